"""One caller turn's stage timings, measured from the end of the caller's speech.

Stages: ``vad_ms`` (the closing silence was seen), ``transcript_ms`` (when the reply waited for
it), ``reply_ready_ms`` (the responder answered), ``first_audio_ms`` (the reply's first frame
reached pjsip). Each goes to the metrics (per-stage percentiles) and to one ``turn`` log line.
Monotonic times in, milliseconds out; a stage that never happened (the reply was cut before it
played) is logged as null and not observed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agent.services.metrics import Metrics


@dataclass(slots=True)
class TurnTrace:
    turn: int
    end_of_speech: float  # monotonic
    speech_s: float
    waited_for_transcript: bool
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
                metrics.observe_ms(stage, ms)
        log.info(
            "turn", turn=self.turn, speech_s=round(self.speech_s, 2), waited_for_transcript=self.waited_for_transcript,
            **timings,
        )
        return timings


__all__ = ["TurnTrace"]
