"""Handing a call to a person: the graph's transfer actions, a caller asking for a human, and
the urgency flag (agent/call/call_phase.py) all end here.

Two ways, by ``escalation.mode``:

* **bridge** (default, attended): Bedside dials the target itself while the caller hears the
  hold message, announces the call to whoever answers, connects the two legs in pjmedia's
  conference bridge and drops out of the conversation (it stops listening, transcribing and
  scoring; it stays only as the media path, and hangs up one leg when the other ends). Works
  with every caller, whatever their phone supports.
* **refer** (blind): a SIP REFER asks the caller's side to call the target (RFC 3515); the
  caller's phone must support it, and Bedside learns the outcome from its NOTIFYs.

Either way, when nobody answers within ``answer_timeout_s`` (or the target is busy or fails)
the caller hears ``no_answer``, an apology, and a call-back request goes into the call record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field

from agent.call.record import TRANSFER_NODE, Callback, Priority
from agent.call.responder import AgentReply
from agent.call.speaker import Spoken
from agent.services.metrics import Metrics
from telephony.call_session import CallSession
from telephony.config import SipConfig
from telephony.user_agent import CallFailed
from tts.expression import Expression


class TransferMode(StrEnum):
    BRIDGE = "bridge"
    REFER = "refer"


class EscalationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: TransferMode = Field(TransferMode.BRIDGE, description="bridge (Bedside dials, announces, connects, drops out) or refer (blind SIP REFER)")
    on_urgency: bool = Field(True, description="the urgency flag (call_phase) puts the caller through to urgent_to")
    urgent_to: str = Field("operator", description="the sip.transfer_targets name urgent calls go to")
    urgent_line: str = Field(
        "I can hear this has been really hard, and I don't want you to wait any longer. "
        "I'm getting a member of our team on the line for you now.",
        description="said to the caller when the urgency flag goes up, before the transfer",
    )
    hold_message: str = Field(
        "Please stay on the line while I connect you.", description="bridge: played to the caller while the target rings",
    )
    announce: str = Field(
        "Hello, this is Bedside, the clinic's phone assistant. I'm putting a caller through to you now.",
        description="bridge: said to whoever answers, before the caller is connected",
    )
    urgent_announce: str = Field(
        "This caller has sounded distressed for a while, so please treat it as urgent.",
        description="bridge: added to the announcement when the urgency flag sent the call",
    )
    answer_timeout_s: float = Field(20.0, gt=0, le=120, description="no answer (or no connected transfer) within this: apology and call-back")
    no_answer: str = Field(
        "I'm sorry, nobody on our team could take your call just now. I've asked them to call you back "
        "as soon as they can. If this is an emergency, please hang up and dial 911.",
        description="said when the transfer does not connect; a call-back request is recorded",
    )


class Switchboard(Protocol):
    """Places the second leg and joins legs (telephony.user_agent.SipUserAgent)."""

    async def dial(self, uri: str, timeout: float = 15.0) -> CallSession: ...

    async def bridge(self, a: CallSession, b: CallSession) -> None: ...


class Sayer(Protocol):
    async def say(self, reply: AgentReply, label: str) -> Spoken: ...


@dataclass(frozen=True, slots=True)
class Handoff:
    """How a transfer went. ``reason`` is the call's end reason for the record."""

    connected: bool
    reason: str
    status: int = 0
    callback: Callback | None = None  # the call-back request recorded when it did not connect


class Escalator:
    """One call's hand-offs. ``speaker_for`` gives a speaker for another leg (the announcement)."""

    def __init__(
        self, config: EscalationConfig, sip: SipConfig, switchboard: Switchboard | None,
        speaker_for: Callable[[CallSession], Sayer], metrics: Metrics, call_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.sip = sip
        self.switchboard = switchboard
        self.speaker_for = speaker_for
        self.metrics = metrics
        self.clock = clock
        self.log = structlog.get_logger(component="escalation", call_id=call_id)

    def can_reach(self, to: str) -> bool:
        return bool(self.sip.transfer_targets.get(to))

    async def hand_off(
        self, caller: CallSession, caller_speaker: Sayer, to: str, urgent: bool = False,
        on_bridged: Callable[[], None] | None = None,
    ) -> Handoff:
        """Put ``caller`` through to the target named ``to``. With a bridge this returns when the
        bridged conversation ends (either side hangs up); ``on_bridged`` fires when it starts."""
        uri = self.sip.transfer_targets.get(to)
        if not uri:
            self.log.warning("transfer_not_configured", to=to)
            return Handoff(False, f"transfer requested: {to}")
        started = self.clock()
        if self.config.mode is TransferMode.REFER or self.switchboard is None:
            status = await caller.transfer(uri, self.sip.transfer_timeout_s)
            connected = 200 <= status < 300
            return await self._outcome(caller, caller_speaker, to, urgent, status, connected, started, "refer")
        return await self._bridge(caller, caller_speaker, to, uri, urgent, started, on_bridged)

    async def _bridge(
        self, caller: CallSession, caller_speaker: Sayer, to: str, uri: str, urgent: bool, started: float,
        on_bridged: Callable[[], None] | None,
    ) -> Handoff:
        assert self.switchboard is not None
        dialing = asyncio.create_task(self.switchboard.dial(uri, self.config.answer_timeout_s))
        operator: CallSession | None = None
        try:
            await caller_speaker.say(AgentReply(self.config.hold_message, expression=Expression.CALM), "hold")
            try:
                operator = await dialing
            except CallFailed as exc:
                return await self._outcome(caller, caller_speaker, to, urgent, exc.status_code, False, started, "bridge")
            if caller.ended.is_set():
                self.log.info("caller_left_before_answer", to=to)
                return Handoff(False, f"caller hung up before {to} answered")
            announce = self.config.announce + (f" {self.config.urgent_announce}" if urgent else "")
            await self.speaker_for(operator).say(AgentReply(announce), "announce")
            if caller.ended.is_set() or operator.ended.is_set():
                return Handoff(False, f"a leg ended during the announcement to {to}")
            await self.switchboard.bridge(caller, operator)
            waited_ms = round((self.clock() - started) * 1000)
            self.metrics.inc("transfers")
            self.metrics.observe_ms("transfer_connect_ms", waited_ms)
            self.log.info("call_transferred", to=to, mode="bridge", status=200, waited_ms=waited_ms, urgent=urgent)
            if on_bridged is not None:
                on_bridged()
            bridged_at = self.clock()
            ended = await _first_ended(caller, operator)
            self.log.info("bridge_ended", to=to, hung_up_by="caller" if ended is caller else to,
                          talk_s=round(self.clock() - bridged_at, 1))
            return Handoff(True, f"transferred: {to}", 200)
        finally:
            if not dialing.done():
                dialing.cancel()
            if operator is not None and not operator.ended.is_set():
                # Shielded: when the caller hangs up, the agent cancels this task, and a cancelled
                # hang-up command would never reach pjsip, leaving the operator's leg up.
                await asyncio.shield(operator.hangup("bridge ended"))

    async def _outcome(
        self, caller: CallSession, caller_speaker: Sayer, to: str, urgent: bool, status: int, connected: bool,
        started: float, mode: str,
    ) -> Handoff:
        waited_ms = round((self.clock() - started) * 1000)
        if connected:
            self.metrics.inc("transfers")
            self.log.info("call_transferred", to=to, mode=mode, status=status, waited_ms=waited_ms, urgent=urgent)
            return Handoff(True, f"transferred: {to}", status)
        self.metrics.inc("transfers_failed")
        self.log.warning("transfer_failed", to=to, mode=mode, status=status, waited_ms=waited_ms)
        callback = Callback(to, f"transfer to {to} not answered ({status})", Priority.URGENT if urgent else Priority.ROUTINE,
                            node=TRANSFER_NODE)
        if not caller.ended.is_set():
            await caller_speaker.say(AgentReply(self.config.no_answer, expression=Expression.SYMPATHETIC), "transfer-failed")
        return Handoff(False, f"transfer failed ({status}): {to}", status, callback)


async def _first_ended(a: CallSession, b: CallSession) -> CallSession:
    waits = {asyncio.ensure_future(a.ended.wait()): a, asyncio.ensure_future(b.ended.wait()): b}
    try:
        done, _ = await asyncio.wait(set(waits), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
    return waits[next(iter(done))]
