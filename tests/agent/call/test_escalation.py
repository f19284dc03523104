"""The hand-off logic on its own. pjsua2 allows one endpoint per process, so the SIP side is a
stand-in here (a switchboard that answers, fails or rings on command, over real CallSession
objects); the real thing, three processes and a bridged call, is
tests/e2e/test_call_escalation.py."""

from __future__ import annotations

import asyncio

from agent.call.escalation import EscalationConfig, Escalator, TransferMode
from agent.call.record import Callback, Priority
from agent.services.metrics import Metrics
from telephony.call_session import CallSession, Direction
from telephony.config import SipConfig
from telephony.user_agent import CallFailed

SIP = SipConfig(transfer_targets={"operator": "sip:desk@127.0.0.1:5999"})


class Sayer:
    def __init__(self) -> None:
        self.said: list[str] = []

    async def say(self, reply, label: str) -> None:
        self.said.append(label)


def session(direction: Direction = Direction.INBOUND) -> CallSession:
    s = CallSession(asyncio.get_running_loop(), direction)

    async def hangup(reason: str) -> None:
        s.mark_ended(reason)

    async def nothing(_: str) -> None:
        return None

    s.bind(hangup, nothing)
    s.mark_answered()
    return s


class Switchboard:
    def __init__(self, fail: int = 0, ring_s: float = 0.0) -> None:
        self.fail, self.ring_s = fail, ring_s
        self.dialed: list[str] = []
        self.bridged: list[tuple[CallSession, CallSession]] = []
        self.operator: CallSession | None = None

    async def dial(self, uri: str, timeout: float = 15.0) -> CallSession:
        self.dialed.append(uri)
        await asyncio.sleep(self.ring_s)
        if self.fail:
            raise CallFailed(self.fail, "busy")
        self.operator = session(Direction.OUTBOUND)
        return self.operator

    async def bridge(self, a: CallSession, b: CallSession) -> None:
        self.bridged.append((a, b))


def escalator(board: Switchboard, sayer: Sayer, **config) -> Escalator:
    return Escalator(EscalationConfig(**config), SIP, board, lambda _: sayer, Metrics(), "c-1")


async def test_an_unknown_target_is_recorded_not_dialed() -> None:
    board, sayer = Switchboard(), Sayer()
    handoff = await escalator(board, sayer).hand_off(session(), sayer, "nurse")
    assert not handoff.connected and handoff.reason == "transfer requested: nurse" and not board.dialed


async def test_a_busy_operator_means_an_apology_and_a_call_back() -> None:
    board, sayer = Switchboard(fail=486), Sayer()
    handoff = await escalator(board, sayer).hand_off(session(), sayer, "operator", urgent=True)
    assert not handoff.connected and handoff.status == 486
    assert handoff.callback == Callback("operator", "transfer to operator not answered (486)", Priority.URGENT, node="transfer")
    assert sayer.said == ["hold", "transfer-failed"]


async def test_a_bridge_lasts_until_one_side_hangs_up_and_then_ends_the_other() -> None:
    board, sayer = Switchboard(), Sayer()
    caller, bridged = session(), asyncio.Event()
    task = asyncio.create_task(escalator(board, sayer).hand_off(caller, sayer, "operator", on_bridged=bridged.set))
    await asyncio.wait_for(bridged.wait(), 2)
    assert board.bridged == [(caller, board.operator)] and sayer.said == ["hold", "announce"]
    assert not task.done()  # the conversation is going on
    caller.mark_ended("remote")
    handoff = await asyncio.wait_for(task, 2)
    assert handoff.connected and handoff.reason == "transferred: operator"
    assert board.operator.ended.is_set() and board.operator.end_reason == "bridge ended"


async def test_the_operator_leg_goes_down_even_when_the_agent_is_cancelled() -> None:
    board, sayer = Switchboard(), Sayer()
    caller, bridged = session(), asyncio.Event()
    task = asyncio.create_task(escalator(board, sayer).hand_off(caller, sayer, "operator", on_bridged=bridged.set))
    await asyncio.wait_for(bridged.wait(), 2)
    task.cancel()  # what the turn loop does when the caller's hang-up reaches it first
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert board.operator.ended.is_set()


async def test_a_caller_who_leaves_while_it_rings_is_not_bridged() -> None:
    board, sayer = Switchboard(ring_s=0.2), Sayer()
    caller = session()
    task = asyncio.create_task(escalator(board, sayer).hand_off(caller, sayer, "operator"))
    await asyncio.sleep(0.05)
    caller.mark_ended("remote")
    handoff = await asyncio.wait_for(task, 2)
    assert not handoff.connected and not board.bridged and board.operator.ended.is_set()


async def test_refer_mode_uses_the_callers_side() -> None:
    board, sayer = Switchboard(), Sayer()
    caller = session()
    refer = Escalator(EscalationConfig(mode=TransferMode.REFER), SIP, board, lambda _: sayer, Metrics(), "c-1")

    async def transfer(uri: str) -> None:
        caller.transfer_progress(200, True)

    async def hangup(reason: str) -> None:
        caller.mark_ended(reason)

    caller.bind(hangup, hangup, transfer)
    handoff = await refer.hand_off(caller, sayer, "operator")
    assert handoff.connected and handoff.status == 200 and not board.dialed
