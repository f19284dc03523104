"""A SIP user agent on pjsua2: answers INVITEs (the gateway) and places calls (the QA
caller, later the escalation leg). One per process, since pjsua2's Endpoint is a singleton."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pjsua2 as pj
import structlog

from telephony.admission import Admission, Decision, IncomingInvite, Role
from telephony.call_session import CallSession, Direction
from telephony.config import SipConfig
from telephony.media_port import PortPool
from telephony.pjsip_abi import terminate_call
from telephony.sip_call import SipCall
from telephony.sip_endpoint import SipEndpoint
from telephony.sip_guard import GateAnswer, RequestFacts

IncomingHandler = Callable[[CallSession], Awaitable[None]]


class CallFailed(RuntimeError):
    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(f"call failed: {status_code} {reason}")
        self.status_code = status_code
        self.reason = reason


class _Account(pj.Account):
    def __init__(self, ua: SipUserAgent) -> None:
        super().__init__()
        self._ua = ua

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        self._ua._on_incoming(self, prm)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802
        self._ua.log.info("registration", status=prm.code, reason=prm.reason, expiration=prm.expiration)


class LogBudget:
    """A token bucket for log lines: ``burst`` at once, then ``per_s``; counts what it dropped."""

    def __init__(self, burst: int, per_s: float) -> None:
        self.burst, self.per_s = burst, per_s
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._dropped = 0

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self._dropped += 1
        return False

    def suppressed(self) -> int:
        """Lines dropped since the last call (reported with the next line that is logged)."""
        dropped, self._dropped = self._dropped, 0
        return dropped


class SipUserAgent:
    def __init__(
        self,
        config: SipConfig,
        on_incoming: IncomingHandler | None = None,
        name: str = "bedside",
        admission: Admission | None = None,
        on_load: Callable[[int], None] | None = None,
    ) -> None:
        """``admission``: who may call and whether there is room (None with ``on_incoming``:
        a single process under ``config``'s rules; without ``on_incoming``, calls are refused)."""
        self.config = config
        listening = on_incoming is not None
        self.endpoint = SipEndpoint(config, name=name, guard=listening, invite_gate=self._invite_gate if listening else None)
        self.log = structlog.get_logger(component="sip.ua", endpoint=name)
        self._admitted: dict[str, tuple[float, Decision]] = {}  # SIP Call-ID -> the gate's admission, for pjsua's callback
        self._refusal_log = LogBudget(burst=50, per_s=10)
        self._on_incoming_handler = on_incoming
        self._loop: asyncio.AbstractEventLoop | None = None
        self._account: _Account | None = None
        self._calls: dict[str, SipCall] = {}  # by our call_id; pjsip-thread owned
        self._ports = PortPool()
        self._accepting = on_incoming is not None
        self._active = 0  # calls holding a pjsua slot; changed on the pjsip thread only
        if admission is None and on_incoming is not None:
            admission = Admission(config, Role.SINGLE)
        self._admission = admission
        self._on_load = on_load
        self.rejected: dict[int, int] = {}  # status code -> count

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.endpoint.start)
        self.endpoint.on_shutdown(self._shutdown_on_pjsip_thread)
        self.endpoint.every(1.0, self._watchdog)
        await self.endpoint.run(self._create_account)

    @property
    def port(self) -> int:
        return self.endpoint.bound_port

    @property
    def active_calls(self) -> int:
        return self._active

    async def drain(self, timeout: float) -> None:
        """Stop taking calls (503) and wait for those in progress to end, up to ``timeout``."""
        self._accepting = False
        deadline = time.monotonic() + timeout
        while self._active and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if self._active:
            self.log.warning("drain_timeout", remaining=self._active)

    async def stop(self) -> None:
        self._accepting = False
        if self._calls:
            await self.endpoint.run(self._hangup_all)
            deadline = time.monotonic() + 3.0
            while self._active and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        await asyncio.to_thread(self.endpoint.stop)

    # ---- outbound -------------------------------------------------------------------------
    async def dial(self, uri: str, timeout: float = 15.0) -> CallSession:
        """Place a call and wait until it is answered; raises ``CallFailed`` otherwise."""
        assert self._loop is not None
        session = CallSession(self._loop, Direction.OUTBOUND, remote_uri=uri)

        def make_call() -> None:
            call = self._new_call(session)
            prm = pj.CallOpParam(True)
            try:
                call.makeCall(uri, prm)
            except pj.Error as exc:
                self._calls.pop(session.call_id, None)
                raise CallFailed(0, exc.reason) from None
            self._count(+1)
            try:
                session.sip_call_id = call.getInfo().callIdString  # both ends know the call by it
            except pj.Error:
                pass

        await self.endpoint.run(make_call)
        answered = asyncio.ensure_future(session.answered.wait())
        ended = asyncio.ensure_future(session.ended.wait())
        try:
            await asyncio.wait({answered, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await session.hangup("cancelled")  # e.g. the caller being put through hung up first
            raise
        finally:
            answered.cancel()
            ended.cancel()
        if session.answered.is_set() and not session.ended.is_set():
            return session
        if not session.ended.is_set():
            await session.hangup("timeout")
            raise CallFailed(408, "no answer")
        raise CallFailed(session.status_code, session.end_reason)

    async def bridge(self, a: CallSession, b: CallSession) -> None:
        """Connect two live calls' audio both ways in pjmedia's conference bridge (an attended
        transfer: Bedside stays the media path, the two parties hear each other). Each call's
        own port stays connected too, so the agent can still play to either; the bridge goes
        away with the first leg that ends. Raises ``CallFailed`` if a leg is already gone.

        A leg that is not one of this agent's SIP calls (a browser call) is bridged in software
        instead: each leg's received frames are played into the other's call."""
        if a.call_id not in self._calls or b.call_id not in self._calls:
            if a.ended.is_set() or b.ended.is_set():
                raise CallFailed(0, "a leg ended before it could be bridged")
            a.relay_audio_to(b)
            b.relay_audio_to(a)
            self.log.info("calls_bridged", call_id=a.call_id, other=b.call_id, relay="software")
            return

        def connect() -> None:
            legs = [self._calls.get(a.call_id), self._calls.get(b.call_id)]
            if any(leg is None or leg.disconnected or leg.audio_media is None for leg in legs):
                raise CallFailed(0, "a leg ended before it could be bridged")
            first, second = legs
            first.audio_media.startTransmit(second.audio_media)
            second.audio_media.startTransmit(first.audio_media)
            self.log.info("calls_bridged", call_id=a.call_id, other=b.call_id)

        await self.endpoint.run(connect)

    # ---- pjsip thread ---------------------------------------------------------------------
    def _create_account(self) -> None:
        cfg = self.config
        acc_cfg = pj.AccountConfig()
        host = cfg.public_address or cfg.host
        reg = cfg.registration
        acc_cfg.idUri = reg.aor or f"sip:{self.endpoint.name}@{host}:{self.port}"
        if reg.registrar:
            acc_cfg.regConfig.registrarUri = reg.registrar
            acc_cfg.regConfig.timeoutSec = reg.expires_s
        else:
            acc_cfg.regConfig.registrarUri = ""
        if reg.username:  # answers a registrar's challenge, and any to our own INVITEs (a PBX asking who calls)
            password = reg.password.get_secret_value() if reg.password else ""
            acc_cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", reg.realm, reg.username, 0, password))
        acc_cfg.mediaConfig.transportConfig.port = cfg.rtp_port
        acc_cfg.mediaConfig.transportConfig.portRange = cfg.rtp_port_range
        acc_cfg.mediaConfig.transportConfig.boundAddress = cfg.host
        account = _Account(self)
        account.create(acc_cfg, True)
        self._account = account

    def _new_call(self, session: CallSession, call_index: int = pj.PJSUA_INVALID_ID) -> SipCall:
        assert self._account is not None
        call = SipCall(self._account, session, self._confirmed, self._disconnected, self._ports, call_index)
        self._calls[session.call_id] = call
        loop = session.loop

        call_id = session.call_id

        # The session must not hold the SipCall itself: pjsua2 aborts at libDestroy if a
        # Call outlives the library, and sessions may live on in the agent. Look it up instead.
        def on_pjsip(action: Callable[[SipCall], None]) -> Callable[[], None]:
            def run() -> None:
                live = self._calls.get(call_id)
                if live is not None and not live.disconnected:
                    action(live)

            return run

        async def hangup(reason: str) -> None:
            await self.endpoint.run(on_pjsip(lambda c: c.hangup_quietly(reason)))

        async def dtmf(digits: str) -> None:
            await self.endpoint.run(on_pjsip(lambda c: c.dialDtmf(digits)))

        async def transfer(target_uri: str) -> None:
            await self.endpoint.run(on_pjsip(lambda c: c.transfer_quietly(target_uri)))

        loop.call_soon_threadsafe(session.bind, hangup, dtmf, transfer)
        return call

    def _invite_gate(self, facts: RequestFacts, message: str) -> GateAnswer | None:
        """Asked by the SIP guard for each new INVITE, before pjsua sees it: a refusal is
        answered statelessly there, so it never takes a pjsua slot (a burst of refusals got
        pjsua's own 486) nor an answer from inside pjsua's callback. An admission is remembered
        for ``_on_incoming``, which pjsip calls next on this same thread: deciding twice would
        spend a worker's single-use ticket twice."""
        if facts.method.upper() == "OPTIONS":
            return self._options_answer()
        invite = IncomingInvite.parse(message, facts.source_ip)
        decision = self._decide(invite)
        if not decision.accepted:
            self.rejected[decision.status] = self.rejected.get(decision.status, 0) + 1
            if self._refusal_log.take():  # a flood of INVITEs must not become a flood of log lines
                self.log.info("call_incoming", decision=decision.status, why=decision.why,
                              suppressed=self._refusal_log.suppressed())
            return GateAnswer(decision.status, decision.headers, decision.why)
        now = time.monotonic()
        if len(self._admitted) > 64:  # INVITEs pjsua refused on its own never reach _on_incoming
            self._admitted = {k: v for k, v in self._admitted.items() if now - v[0] < 5.0}
        self._admitted[invite.call_id] = (now, decision)
        return None

    def _options_answer(self) -> GateAnswer | None:
        """OPTIONS is a SIP front's health probe: while this process takes calls pjsua answers
        200; once it drains (SIGTERM) the answer is 503, which takes it out of the front's
        dispatcher (configs/kamailio/kamailio.cfg) while its calls in progress go on."""
        if self._accepting:
            return None
        return GateAnswer(503, (("Retry-After", str(self.config.retry_after_s)),), "draining")

    def _decide(self, invite: IncomingInvite) -> Decision:
        if self._admission is None:
            return Decision(503, "this user agent takes no calls")
        return self._admission.decide(invite, self._accepting, self._active, self.port)

    def _on_incoming(self, account: _Account, prm: pj.OnIncomingCallParam) -> None:
        """Takes the call the guard's gate admitted (or decides now, without the guard) and
        answers on the pjsip thread's next turn: pjsua2 frees its copy of the INVITE after this
        callback returns, and a final answer sent from inside it makes pjsua free that copy
        first, so a refused or redirected late-offer INVITE (no SDP) aborted the process
        (``pjsip_rx_data_free_cloned: Assertion 'rdata' failed``)."""
        assert self._loop is not None
        session = CallSession(self._loop, Direction.INBOUND)
        call = self._new_call(session, prm.callId)  # owns the call (pjsua2 answers 500 to unowned ones)
        try:
            info = call.getInfo()
            session.remote_uri, session.sip_call_id = info.remoteUri, info.callIdString
        except pj.Error:
            pass
        admitted = self._admitted.pop(session.sip_call_id, None)
        if admitted is not None:
            decision = admitted[1]
        else:
            decision = self._decide(IncomingInvite.parse(prm.rdata.wholeMsg, prm.rdata.srcAddress))
        call.log.info("call_incoming", caller=session.remote_uri, decision=decision.status, why=decision.why)
        if decision.accepted:
            self._count(+1)  # at once, so the next INVITE in this same poll sees the slot taken
        else:
            self.rejected[decision.status] = self.rejected.get(decision.status, 0) + 1
            call.hangup_reason = f"rejected {decision.status}: {decision.why}"
        self.endpoint.defer(lambda: self._answer(call, decision))

    def _answer(self, call: SipCall, decision: Decision) -> None:
        if call.disconnected:  # e.g. CANCELled before our answer went out
            return
        answer = pj.CallOpParam()
        for name, value in decision.headers:
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            answer.txOption.headers.append(header)
        try:
            if not decision.accepted:
                answer.statusCode = decision.status
                call.answer(answer)
                return
            answer.statusCode = 180
            call.answer(answer)
            answer.statusCode = 200
            call.answer(answer)
            call.answered_at = time.monotonic()
        except pj.Error as exc:
            # e.g. SDP negotiation failed after all: refuse rather than half-answer
            call.log.warning("answer_failed", status=decision.status, error=exc.reason)
            if decision.accepted:
                call.hangup_quietly("answer failed", 488)

    def _count(self, delta: int) -> None:
        self._active = max(0, self._active + delta)
        if self._on_load is not None:
            self._on_load(self._active)

    def _confirmed(self, call: SipCall) -> None:
        if call.session.direction is Direction.INBOUND and self._on_incoming_handler is not None:
            handler = self._on_incoming_handler
            asyncio.run_coroutine_threadsafe(handler(call.session), call.session.loop)

    def _disconnected(self, call: SipCall) -> None:
        was_counted = call.session.direction is Direction.OUTBOUND or not call.hangup_reason.startswith("rejected")
        if was_counted:
            self._count(-1)
        # Release outside pjsua2's callback; drop the port first so it leaves the bridge.
        self.endpoint.defer(lambda: self._release(call))

    def _release(self, call: SipCall) -> None:
        if call.port is not None:
            self._ports.release(call.port)
            call.port = None
        self._calls.pop(call.session.call_id, None)

    def _watchdog(self) -> None:
        """Every second: calls whose RTP stopped, and answered calls whose ACK never came (an
        INVITE answered and never ACKed would otherwise hold its slot for a minute)."""
        now = time.monotonic()
        for call in list(self._calls.values()):
            if call.disconnected:
                continue
            if call.confirmed and call.rtp_idle_s(now) > self.config.rtp_timeout_s:
                call.log.warning("rtp_timeout", idle_s=round(now - call.last_rx_change, 1))
                call.hangup_quietly("rtp timeout")
            elif (not call.confirmed and call.answered_at is not None
                  and now - call.answered_at > self.config.ack_timeout_s):
                call.log.warning("ack_timeout", waited_s=round(now - call.answered_at, 1))
                call.hangup_reason = "no ACK"
                if not terminate_call(call.getId(), 408):  # a BYE would wait 64 s on a caller who is not there
                    call.hangup_quietly("no ACK")

    def _hangup_all(self) -> None:
        for call in list(self._calls.values()):
            call.hangup_quietly("shutdown")

    def _shutdown_on_pjsip_thread(self) -> None:
        try:
            self.endpoint.endpoint.hangupAllCalls()
        except pj.Error:
            pass
        for call in self._calls.values():
            call.port = None
        self._calls.clear()
        try:
            # Stop the conference clock first, so no media callback can run while ports go.
            self.endpoint.endpoint.audDevManager().setNoDev()
        except pj.Error:
            pass
        self._ports.clear()
        if self._account is not None:
            try:
                self._account.shutdown()
            except pj.Error:
                pass
            self._account = None
