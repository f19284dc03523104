"""One caller turn's stage timings, measured from the end of the caller's input.

Voice turns time from the end of speech: ``vad_ms`` (the closing silence was seen),
``transcript_ms`` (when the reply waited for it), ``reply_ready_ms`` (the responder answered),
``first_audio_ms`` (the reply's first frame reached the call), and whether the transcript was
decoded early, while the closing silence ran (agent/call/transcription.py), and whether the
turn-end model ended the turn at a pause (agent/call/turn_end.py). Keypad turns time from the last
key: ``keypad_pause_ms`` (the pause that closes the digits) instead of the first two.

Each stage goes to the metrics (per-stage percentiles), the first audio also per kind of reply
(``first_audio_<source>_ms``, agent/call/speaker.py's ReplySource), and the whole to one ``turn``
log line. Monotonic times in, milliseconds out; a stage that never happened (the reply was cut
before it played) is logged as null and not observed."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Tracer

from agent.services.metrics import Metrics


class TurnInput(StrEnum):
    VOICE = "voice"
    KEYPAD = "keypad"


@dataclass(slots=True)
class TurnTrace:
    turn: int
    end_of_speech: float  # monotonic: the end of the caller's speech, or their last key
    speech_s: float
    waited_for_transcript: bool
    input: TurnInput = TurnInput.VOICE
    reply: str | None = None  # where the reply's first sentence came from (ReplySource)
    early_transcript: bool | None = None  # voice: its transcript was decoded while the turn's silence ran
    ended_by_model: bool | None = None  # voice: the turn-end model ended it at a pause (else the silence)
    stages: dict[str, float] = field(default_factory=dict)  # stage -> monotonic time (NaN: never)

    def mark(self, stage: str, at: float | None) -> None:
        self.stages[stage] = at if at is not None else math.nan

    def timings_ms(self) -> dict[str, int | None]:
        return {
            stage: None if math.isnan(at) else round((at - self.end_of_speech) * 1000)
            for stage, at in self.stages.items()
        }

    def report(self, metrics: Metrics, log: Any) -> dict[str, int | None]:
        timings = self.timings_ms()
        for stage, ms in timings.items():
            if ms is not None:
                metrics.observe_turn_ms(stage, ms)
        first_audio = timings.get("first_audio_ms")
        if first_audio is not None and self.reply is not None:
            metrics.observe_turn_ms(f"first_audio_{self.reply}_ms", first_audio)
        metrics.inc("turns")
        log.info(
            "turn", turn=self.turn, input=str(self.input), reply=self.reply, speech_s=round(self.speech_s, 2),
            waited_for_transcript=self.waited_for_transcript, early_transcript=self.early_transcript,
            ended_by_model=self.ended_by_model, **timings,
        )
        return timings

    def record_span(self, tracer: Tracer, parent: Context | None, timings: dict[str, int | None]) -> None:
        """The turn as a child span of its call's, from the end of the caller's input to its last
        stage. Numbers and kinds only: never the words, the digits or a slot's value (PHI)."""
        attributes: dict[str, str | int | float | bool] = {
            "bedside.turn": self.turn, "bedside.turn.input": str(self.input), "bedside.turn.speech_s": round(self.speech_s, 2),
            "bedside.turn.waited_for_transcript": self.waited_for_transcript,
        }
        if self.reply is not None:
            attributes["bedside.turn.reply"] = self.reply
        if self.early_transcript is not None:
            attributes["bedside.turn.early_transcript"] = self.early_transcript
        if self.ended_by_model is not None:
            attributes["bedside.turn.ended_by_model"] = self.ended_by_model
        done = [ms for ms in timings.values() if ms is not None]
        for stage, ms in timings.items():
            if ms is not None:
                attributes[f"bedside.turn.{stage}"] = ms
        # Wall-clock span times from the turn's own length: the trace's clock may be a test's fake one.
        end_ns = time.time_ns()
        start_ns = end_ns - max(0, max(done, default=0)) * 1_000_000
        span = tracer.start_span(f"turn {self.turn}", context=parent, attributes=attributes, start_time=start_ns)
        span.end(end_time=end_ns)


__all__ = ["TurnInput", "TurnTrace"]
