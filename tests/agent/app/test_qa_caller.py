import asyncio
from types import SimpleNamespace

import numpy as np

from agent.app.qa_caller import AgentVoiceTracker, QaCaller
from telephony.audio import FRAME_BYTES, float_to_pcm16

LOUD = float_to_pcm16(0.3 * np.sin(2 * np.pi * 440 * np.arange(320) / 16000))
QUIET = bytes(FRAME_BYTES)


def feed(tracker, frames):
    events = []
    for i, frame in enumerate(frames):
        events.append(tracker.feed(frame, (i + 1) * 0.02))
    return events


def test_a_turn_spans_short_pauses_and_ends_after_the_hangover():
    tracker = AgentVoiceTracker(hangover_ms=200)
    frames = [QUIET] * 5 + [LOUD] * 20 + [QUIET] * 5 + [LOUD] * 10 + [QUIET] * 15
    events = feed(tracker, frames)
    started = [s for s, _ in events if s]
    ended = [e for _, e in events if e]
    assert len(started) == 1 and len(ended) == 1
    turn, pcm = ended[0]
    assert abs(turn.start - 0.10) < 1e-9
    assert abs(turn.end - 0.80) < 1e-9  # the last loud frame ends at 40 frames = 0.8 s
    assert len(pcm) == 35 * FRAME_BYTES  # 20 loud + 5 pause + 10 loud, hangover trimmed


def test_silence_alone_is_no_turn():
    tracker = AgentVoiceTracker()
    assert all(s is None and e is None for s, e in feed(tracker, [QUIET] * 100))
    assert tracker.turns == []


async def test_waiting_for_quiet_hears_a_reply_that_stalls_midway():
    """--wait-quiet: a reply with a 0.4 s stall in it (longer than the tracker's hangover, so two
    turns) is heard to its end before the caller would hang up. No SIP here: the session is only
    its ``ended`` event, and frames are fed as the call's reader would."""
    caller = QaCaller(dialer=None, stt=None, synth=None, emit=lambda event: None)
    caller.tracker = AgentVoiceTracker(hangover_ms=100)
    session = SimpleNamespace(ended=asyncio.Event())

    async def agent_speaks() -> None:
        for frame in [LOUD] * 15 + [QUIET] * 20 + [LOUD] * 15 + [QUIET] * 100:
            caller.tracker.feed(frame, caller.now())
            await asyncio.sleep(0.02)

    speaking = asyncio.create_task(agent_speaks())
    await asyncio.sleep(0.1)
    await caller._wait_quiet(session, 0.6)
    assert len(caller.tracker.turns) == 2, caller.tracker.turns  # the part after the stall was heard
    assert caller.now() - caller.tracker.last_audio_at >= 0.6
    speaking.cancel()


async def test_waiting_for_quiet_ends_with_the_call():
    caller = QaCaller(dialer=None, stt=None, synth=None, emit=lambda event: None)
    caller.tracker.feed(LOUD, caller.now())  # the agent is mid-sentence...
    session = SimpleNamespace(ended=asyncio.Event())
    session.ended.set()  # ... when it hangs up
    await asyncio.wait_for(caller._wait_quiet(session, 5.0), timeout=1.0)
