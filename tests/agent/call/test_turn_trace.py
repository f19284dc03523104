"""Per-turn stage timings (agent/call/turn_trace.py)."""

from __future__ import annotations

from agent.call.turn_trace import TurnInput, TurnTrace
from agent.services.metrics import Metrics


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def info(self, event: str, **fields) -> None:
        self.lines.append((event, fields))


def test_stages_are_milliseconds_from_the_end_of_speech_and_a_missing_one_is_null() -> None:
    trace = TurnTrace(turn=3, end_of_speech=100.0, speech_s=1.234, waited_for_transcript=False)
    trace.mark("vad_ms", 100.3)
    trace.mark("reply_ready_ms", 100.301)
    trace.mark("first_audio_ms", None)  # cut before it played
    metrics, log = Metrics(), Log()
    assert trace.report(metrics, log) == {"vad_ms": 300, "reply_ready_ms": 301, "first_audio_ms": None}
    assert metrics.percentiles("vad_ms")["p50"] == 300 and metrics.percentiles("first_audio_ms") == {"n": 0}
    ((event, fields),) = log.lines
    assert event == "turn" and fields["turn"] == 3 and fields["speech_s"] == 1.23 and fields["first_audio_ms"] is None


def test_a_keypad_turn_is_timed_from_the_last_key_and_its_first_audio_per_kind_of_reply() -> None:
    trace = TurnTrace(turn=2, end_of_speech=50.0, speech_s=0.0, waited_for_transcript=False, input=TurnInput.KEYPAD,
                      reply="synthesized")
    trace.mark("keypad_pause_ms", 52.0)
    trace.mark("first_audio_ms", 52.4)
    metrics, log = Metrics(), Log()
    assert trace.report(metrics, log) == {"keypad_pause_ms": 2000, "first_audio_ms": 2400}
    assert metrics.percentiles("first_audio_synthesized_ms")["p50"] == 2400
    ((_, fields),) = log.lines
    assert fields["input"] == "keypad" and fields["reply"] == "synthesized"
