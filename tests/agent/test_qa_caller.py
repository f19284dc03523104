import numpy as np

from agent.qa_caller import AgentVoiceTracker
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
