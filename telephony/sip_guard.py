"""Refuses bad SIP traffic inside pjsip, before pjsua's modules see it.

pjsua2 gives Python no hook for non-INVITE requests or transports, so this registers real
pjsip modules through ctypes (telephony.pjsip_abi), the way C pjsip applications filter:

* ``mod-bedside-guard`` at priority 20 (after the transaction layer, 16, which absorbs
  retransmissions of requests pjsua already has a transaction for; before the UA layer,
  32) answers stateless 403 (source outside ``allowed_sources``), 513 (a UDP datagram that
  filled pjsip's whole 4,000-byte buffer, i.e. was cut), 501 (out-of-dialog methods Bedside
  does not implement) or the ``InviteGate``'s status for a new INVITE, and absorbs the
  request; an ACK is never answered, only dropped;
* ``mod-bedside-guard-seen`` at priority 1 sees every message first and only notes which
  TCP connections have delivered a complete SIP message;
* pjsip's transport-manager state callback is chained (pjsua's own is kept, called after
  ours, and restored by ``uninstall``): an accepted TCP connection from a refused source or
  over the per-source cap, or one with no complete message within
  ``tcp_first_message_timeout_s``, is shut down by ``sweep()`` with
  ``pjsip_transport_shutdown``;
* the same callback counts the select ioqueue's 64 handles (a closed connection's handle is
  reusable only 500 ms later; an accept that finds none aborts the whole process on a
  pjlib assertion, which a connect/close loop or a full ioqueue reaches without this
  guard). Past 48 handles a drop-all socket filter on pjsip's listening socket stops new
  TCP handshakes (``ListenGate``) until handles are back under 40: callers' SYNs are
  retransmitted, not reset.

Wiring (on the pjsip thread, in SipEndpoint)::

    ep.libStart()
    guard = install_guard(GuardPolicy.from_config(cfg), log, invite_gate)  # after libStart
    self.every(1.0, guard.sweep)                                         # sweep(now=None)
    ...
    guard.uninstall()   # in _destroy(), after the on_shutdown hooks, before libDestroy

Not possible from a module: a TCP message over 4,000 bytes is discarded by the transport
manager before any module runs (pjsip logs "Rx buffer overflow (PJSIP_ERXOVERFLOW)", the
line _PjLogWriter sees); if it was the connection's first message, the first-message
timeout closes that connection.

Logs carry method (unknown ones as "other"), status, reason, source address and counts,
never SIP message contents, and at most one line per reason per second.
"""

from __future__ import annotations

import ctypes
import ipaddress
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from telephony import pjsip_abi as abi
from telephony.admission import address_allowed
from telephony.config import SipConfig
from telephony.tcp_limits import HandleBudget, ListenGate, TcpLedger

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

GUARD_PRIORITY = 20  # after PJSIP_MOD_PRIORITY_TSX_LAYER (16), before the UA layer (32)
OBSERVER_PRIORITY = 1  # before everything: marks TCP connections that delivered a message

# Requests Bedside serves out of dialog; everything else out of dialog is 501.
OUT_OF_DIALOG_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"})

DROP = 0  # a "status" meaning: absorb without an answer (ACK)


@dataclass(frozen=True)
class Verdict:
    status: int  # SIP status to answer with, or DROP
    reason: str  # counter key: source | truncated | method | invite_gate
    headers: tuple[tuple[str, str], ...] = ()  # added to the stateless answer (Retry-After, Contact, ...)
    why: str = ""  # the invite gate's reason, for the log (never a caller's number or words)


@dataclass(frozen=True)
class RequestFacts:
    """Plain data about one incoming request (what the policy decides on)."""

    method: str
    source_ip: str
    datagram: bool  # UDP: packet_len is one whole datagram
    packet_len: int
    in_dialog: bool


@dataclass(frozen=True)
class GateAnswer:
    """An invite gate's refusal: the status and the headers it needs (302 Contact, 401
    WWW-Authenticate, 503 Retry-After)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    why: str = ""


# Admission for new calls, asked for each out-of-dialog INVITE the policy passed, with the
# message text: a refusal (302, 401, 403, 404, 503 ...) is answered statelessly, so the INVITE
# never becomes a pjsua call (no slot held, no pjsua 486, no answer from inside pjsua's
# incoming-call callback); None lets pjsua take it. Also asked for out-of-dialog OPTIONS, the
# health probe of a SIP front (Kamailio's dispatcher): a draining server answers it 503, so the
# front stops sending it calls; None lets pjsua answer 200. Runs on the pjsip thread: keep it quick.
InviteGate = Callable[[RequestFacts, str], GateAnswer | None]
GATED_METHODS = frozenset({"INVITE", "OPTIONS"})


def _network(value: object) -> IpNetwork:
    """A CIDR string or an ipaddress network (pydantic's IPvAnyNetwork gives the latter)."""
    return ipaddress.ip_network(str(value).strip(), strict=False)


_SIP_DEFAULTS = SipConfig()


@dataclass(frozen=True)
class GuardPolicy:
    """An empty ``allowed_sources`` refuses everyone; allow all with 0.0.0.0/0 and ::/0.
    Defaults are SipConfig's."""

    allowed_sources: tuple[IpNetwork, ...] = tuple(_network(n) for n in _SIP_DEFAULTS.allowed_sources)
    tcp_max_connections_per_source: int = _SIP_DEFAULTS.tcp_max_connections_per_source
    tcp_first_message_timeout_s: float = _SIP_DEFAULTS.tcp_first_message_timeout_s
    max_packet_len: int = abi.PJSIP_MAX_PKT_LEN

    @classmethod
    def from_config(cls, config: SipConfig) -> GuardPolicy:
        return cls(
            allowed_sources=tuple(_network(s) for s in config.allowed_sources),
            tcp_max_connections_per_source=config.tcp_max_connections_per_source,
            tcp_first_message_timeout_s=config.tcp_first_message_timeout_s,
        )

    def source_allowed(self, ip: str) -> bool:
        return address_allowed(ip, self.allowed_sources)

    def decide(self, req: RequestFacts) -> Verdict | None:
        """None: pass to pjsua. Otherwise the answer (or DROP for ACK) and why."""
        method = req.method.upper()
        verdict: Verdict | None = None
        if not self.source_allowed(req.source_ip):
            verdict = Verdict(403, "source")
        elif req.datagram and req.packet_len >= self.max_packet_len:
            # recvfrom() into a 4,000-byte buffer cut the datagram: an INVITE lost its SDP
            verdict = Verdict(513, "truncated")
        elif not req.in_dialog and method not in OUT_OF_DIALOG_METHODS:
            verdict = Verdict(501, "method")
        if verdict is not None and method == "ACK":
            return Verdict(DROP, verdict.reason)  # an ACK is never answered
        return verdict


class LogLimiter:
    """At most one line per key per interval; reports how many were skipped in between."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._skipped: Counter[str] = Counter()

    def allow(self, key: str, now: float) -> int | None:
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._skipped[key] += 1
            return None
        self._last[key] = now
        return self._skipped.pop(key, 0)


# ---- the pjsip module ---------------------------------------------------------------------
class SipGuard:
    """Installed by install_guard(); all methods run on the pjsip thread."""

    def __init__(self, policy: GuardPolicy, log: Any, invite_gate: InviteGate | None = None) -> None:
        self.policy = policy
        self.log = log
        self.invite_gate = invite_gate
        self.refused: Counter[str] = Counter()  # by reason: source, truncated, method, invite_gate
        self.refused_by_status: Counter[int] = Counter()
        self.tcp_shutdowns: Counter[str] = Counter()  # by reason: source, over_cap, first_message_timeout
        self.errors: Counter[str] = Counter()  # callback_exception, layout_mismatch
        self.ledger = TcpLedger(policy.tcp_max_connections_per_source, policy.tcp_first_message_timeout_s)
        self.budget = HandleBudget()
        self.gate_closures = 0
        self._gates: list[ListenGate] = []
        self.layout_ok = True
        self._limiter = LogLimiter(interval_s=1.0)  # a flood must not become a log flood
        self._endpt: int | None = None
        self._tpmgr: int | None = None
        self._chained_state_cb: Any = None  # pjsua's callback, called after ours
        self._chained_state_ptr: int | None = None
        self._names: list[ctypes.Array[ctypes.c_char]] = []
        # ctypes objects C holds pointers to: they must outlive the registration
        self._on_request = abi.RxCallback(self._guard_request)
        self._on_observe = abi.RxCallback(self._observe)
        self._on_state = abi.TpStateCallback(self._transport_state)
        self._guard_mod = self._module(b"mod-bedside-guard", GUARD_PRIORITY, on_rx_request=self._on_request)
        self._observer_mod = self._module(
            b"mod-bedside-guard-seen", OBSERVER_PRIORITY, on_rx_request=self._on_observe, on_rx_response=self._on_observe
        )
        self._registered: list[abi.PjsipModule] = []

    def _module(self, name: bytes, priority: int, **callbacks: Any) -> abi.PjsipModule:
        buf = ctypes.create_string_buffer(name)
        self._names.append(buf)
        mod = abi.PjsipModule()
        mod.name.ptr = ctypes.addressof(buf)
        mod.name.slen = len(name)
        mod.id = -1
        mod.priority = priority
        for slot, fn in callbacks.items():
            setattr(mod, slot, fn)
        return mod

    # ---- lifecycle --------------------------------------------------------------------
    def _install(self) -> None:
        lib = abi.lib()
        endpt = lib.pjsua_get_pjsip_endpt()
        if not endpt:
            raise RuntimeError("pjsua has no pjsip endpoint: install_guard() must follow libStart()")
        if not lib.pj_thread_is_registered():
            raise RuntimeError("install_guard() must run on the pjsip thread")
        self._endpt = endpt
        for mod in (self._observer_mod, self._guard_mod):
            status = lib.pjsip_endpt_register_module(endpt, ctypes.byref(mod))
            if status != abi.PJ_SUCCESS:
                self.uninstall()
                raise RuntimeError(f"pjsip_endpt_register_module failed: {status}")
            self._registered.append(mod)
        self._tpmgr = lib.pjsip_endpt_get_tpmgr(endpt)
        previous = lib.pjsip_tpmgr_get_state_cb(self._tpmgr)
        if previous:
            self._chained_state_ptr = previous
            self._chained_state_cb = abi.TpStateCallback(previous)
        lib.pjsip_tpmgr_set_state_cb(self._tpmgr, ctypes.cast(self._on_state, ctypes.c_void_p))
        _INSTALLED.add(self)
        self._gates = [ListenGate(port) for port in _tcp_listener_ports()]
        if not all(gate.found for gate in self._gates):
            self.log.warning("sip_guard_no_listen_gate", ports=[g.port for g in self._gates if not g.found])
        self.log.info(
            "sip_guard_installed",
            pjsip=abi.version(),
            priority=GUARD_PRIORITY,
            allowed_sources=[str(n) for n in self.policy.allowed_sources],
            tcp_max_connections_per_source=self.policy.tcp_max_connections_per_source,
            tcp_first_message_timeout_s=self.policy.tcp_first_message_timeout_s,
        )

    def uninstall(self) -> None:
        """Unregister the modules and give pjsua its state callback back (before libDestroy)."""
        if self not in _INSTALLED:
            return
        lib = abi.lib()
        if self._tpmgr is not None:
            current = lib.pjsip_tpmgr_get_state_cb(self._tpmgr)
            if current == ctypes.cast(self._on_state, ctypes.c_void_p).value:
                lib.pjsip_tpmgr_set_state_cb(self._tpmgr, self._chained_state_ptr)
            else:
                # someone chained after us and may still call ours: keep it alive, inert
                self.log.warning("sip_guard_state_cb_replaced", action="left chained")
                _RETIRED.append(self)
            self._tpmgr = None
        while self._registered:
            mod = self._registered.pop()
            status = lib.pjsip_endpt_unregister_module(self._endpt, ctypes.byref(mod))
            if status != abi.PJ_SUCCESS:
                self.log.error("sip_guard_unregister_failed", status=status)
        for gate in self._gates:
            gate.release()
        self._gates = []
        self.ledger.conns.clear()
        _INSTALLED.discard(self)
        self.log.info("sip_guard_uninstalled", **self.stats())

    def stats(self) -> dict[str, Any]:
        return {
            "refused": dict(self.refused),
            "refused_by_status": dict(self.refused_by_status),
            "tcp_shutdowns": dict(self.tcp_shutdowns),
            "tcp_connections": len(self.ledger.conns),
            "ioqueue_handles": self.budget.in_use(time.monotonic()),
            "listen_gate_closures": self.gate_closures,
            "listen_gate_closed": self.budget.gated,
            "errors": dict(self.errors),
        }

    # ---- callbacks from C (must never raise) ------------------------------------------
    def _facts(self, rdata: int) -> abi.RxFacts | None:
        if not self.layout_ok:
            return None
        try:
            return abi.rdata_facts(rdata)
        except abi.LayoutError as exc:
            # Fail safe: stop reading pjsip memory and let everything through as before.
            self.layout_ok = False
            self.errors["layout_mismatch"] += 1
            self.log.error("sip_guard_layout_mismatch", check=str(exc), pjsip=abi.version(), action="guard disabled")
            return None

    def _guard_request(self, rdata: int) -> int:
        try:
            facts = self._facts(rdata)
            if facts is None or not facts.is_request:
                return abi.PJ_FALSE
            request = RequestFacts(
                method=facts.method,
                source_ip=facts.source_ip,
                datagram=_is_udp(facts),
                packet_len=facts.packet_len,
                in_dialog=facts.in_dialog,
            )
            verdict = self.policy.decide(request)
            if verdict is None:
                verdict = self._ask_invite_gate(request, rdata)
            if verdict is None:
                return abi.PJ_FALSE
            self.refused[verdict.reason] += 1
            self.refused_by_status[verdict.status] += 1
            if verdict.status != DROP:
                abi.respond_stateless(self._endpt, rdata, verdict.status, verdict.headers)
            # The invite gate's owner logs its own decisions (why a call was refused); the guard
            # logs what it refused itself.
            suppressed = None if verdict.reason == "invite_gate" else self._limiter.allow(verdict.reason, time.monotonic())
            if suppressed is not None:
                self.log.info(
                    "sip_request_refused",
                    method=_method_label(facts.method),
                    status=verdict.status or None,
                    reason=verdict.reason,
                    source=facts.source_ip,
                    transport="udp" if _is_udp(facts) else "tcp",
                    suppressed_since_last=suppressed,
                    total=self.refused[verdict.reason],
                )
            return abi.PJ_TRUE
        except BaseException:  # noqa: BLE001 - an exception must never unwind into C
            return self._callback_failed("on_rx_request")

    def _ask_invite_gate(self, request: RequestFacts, rdata: int) -> Verdict | None:
        if self.invite_gate is None or request.in_dialog or request.method.upper() not in GATED_METHODS:
            return None
        try:
            answer = self.invite_gate(request, abi.rdata_message(rdata).decode("utf-8", "replace"))
        except Exception:
            self.errors["invite_gate_exception"] += 1
            self.log.exception("sip_invite_gate_failed")
            return None
        if answer is None:
            return None
        if not 300 <= int(answer.status) <= 699:
            self.errors["invite_gate_bad_status"] += 1
            return None
        return Verdict(int(answer.status), "invite_gate", answer.headers, answer.why)

    def _observe(self, rdata: int) -> int:
        try:
            transport = abi.RxData.from_address(rdata).tp_info.transport
            if transport:
                self.ledger.delivered(int(transport))
        except BaseException:  # noqa: BLE001
            self._callback_failed("observer")
        return abi.PJ_FALSE

    def _transport_state(self, tp: int | None, state: int, info: int | None) -> None:
        try:
            self._on_transport_state(int(tp or 0), state)
        except BaseException:  # noqa: BLE001
            self._callback_failed("transport_state")
        try:
            if self._chained_state_cb is not None:
                self._chained_state_cb(tp, state, info)  # pjsua's own bookkeeping, unchanged
        except BaseException:  # noqa: BLE001
            self._callback_failed("chained_transport_state")

    def _on_transport_state(self, tp: int, state: int) -> None:
        if not tp or self._tpmgr is None:
            return
        now = time.monotonic()
        if state in (abi.PJSIP_TP_STATE_DESTROY, abi.PJSIP_TP_STATE_DISCONNECTED):
            self.ledger.closed(tp)  # the pointer is invalid after DESTROY
            if state == abi.PJSIP_TP_STATE_DESTROY:
                self.budget.destroyed(tp, now)  # its ioqueue handle is released now
                self._regate(now)
            return
        if state != abi.PJSIP_TP_STATE_CONNECTED or not self.layout_ok:
            return
        try:
            facts = abi.transport_facts(tp)
        except abi.LayoutError as exc:
            self.layout_ok = False
            self.errors["layout_mismatch"] += 1
            self.log.error("sip_guard_layout_mismatch", check=str(exc), pjsip=abi.version(), action="guard disabled")
            return
        if not facts.reliable:
            return
        self.budget.opened(tp)  # outgoing connections hold ioqueue handles too
        self._regate(now)
        if not facts.incoming:
            return  # our own outgoing connections are not policed
        doomed = self.ledger.opened(tp, facts.remote_ip, now, self.policy.source_allowed(facts.remote_ip))
        if doomed is not None:
            # shut down by the next sweep(): tearing a transport down inside the accept
            # callback that is still using it is not safe in every pjsip version
            suppressed = self._limiter.allow(f"tcp_{doomed}", now)
            if suppressed is not None:
                self.log.warning(
                    "sip_tcp_refused",
                    reason=doomed,
                    source=facts.remote_ip,
                    connections=self.ledger.count(facts.remote_ip),
                    cap=self.policy.tcp_max_connections_per_source,
                    suppressed_since_last=suppressed,
                )

    def _callback_failed(self, where: str) -> int:
        self.errors["callback_exception"] += 1
        try:
            self.log.exception("sip_guard_callback_failed", where=where)
        except BaseException:  # noqa: BLE001, S110 - logging itself must not unwind into C either
            pass
        return abi.PJ_FALSE

    # ---- periodic -----------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        """Shut down over-cap and silent TCP connections; returns how many. Every ~1 s."""
        if self._tpmgr is None:
            return 0
        now = time.monotonic() if now is None else now
        lib = abi.lib()
        shut = 0
        for tp, reason in self.ledger.due(now):
            # add_ref/dec_ref around the shutdown: dec_ref of a shut-down, unreferenced
            # transport is what schedules its destruction (socket closed on the next poll)
            lib.pjsip_transport_add_ref(tp)
            status = lib.pjsip_transport_shutdown(tp)
            lib.pjsip_transport_dec_ref(tp)
            if status == abi.PJ_SUCCESS:
                shut += 1
                self.tcp_shutdowns[reason] += 1
        if shut:
            self.log.info("sip_tcp_shutdown", count=shut, totals=dict(self.tcp_shutdowns), open=len(self.ledger.conns))
        self._regate(now)
        return shut

    def _regate(self, now: float) -> None:
        closed = self.budget.gate(now)
        for gate in self._gates:
            if gate.closed != closed:
                gate.set_closed(closed)
                if closed:
                    self.gate_closures += 1
                self.log.warning(
                    "sip_tcp_listener_paused" if closed else "sip_tcp_listener_resumed",
                    port=gate.port,
                    ioqueue_handles=self.budget.in_use(now),
                    high=self.budget.high,
                )


def _is_udp(facts: abi.RxFacts) -> bool:
    return (facts.transport & ~abi.PJSIP_TRANSPORT_IPV6) == abi.PJSIP_TRANSPORT_UDP


def _tcp_listener_ports() -> list[int]:
    import pjsua2 as pj

    ep = pj.Endpoint.instance()
    ports = []
    for tid in ep.transportEnum():
        info = ep.transportGetInfo(tid)
        if info.typeName.upper().startswith("TCP"):
            ports.append(int(info.localName.rpartition(":")[2]))
    return ports


_KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "MESSAGE", "SUBSCRIBE", "NOTIFY", "PUBLISH", "REGISTER", "REFER",
     "INFO", "UPDATE", "PRACK"}
)


def _method_label(method: str) -> str:
    """Unknown method names come from the network: log a fixed label, not the token."""
    return method if method.upper() in _KNOWN_METHODS else "other"


_INSTALLED: set[SipGuard] = set()  # keeps callbacks alive while C holds them
_RETIRED: list[SipGuard] = []  # uninstalled, but a later state callback still chains to ours


def install_guard(policy: GuardPolicy, log: Any, invite_gate: InviteGate | None = None) -> SipGuard:
    """Register the guard with pjsua's pjsip endpoint. Call on the pjsip thread after libStart()."""
    guard = SipGuard(policy, log, invite_gate)
    guard._install()
    return guard


def networks(cidrs: Iterable[object]) -> tuple[IpNetwork, ...]:
    return tuple(_network(c) for c in cidrs)
