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
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
                metrics.observe_ms(stage, ms)
        first_audio = timings.get("first_audio_ms")
        if first_audio is not None and self.reply is not None:
            metrics.observe_ms(f"first_audio_{self.reply}_ms", first_audio)
        log.info(
            "turn", turn=self.turn, input=str(self.input), reply=self.reply, speech_s=round(self.speech_s, 2),
            waited_for_transcript=self.waited_for_transcript, early_transcript=self.early_transcript,
            ended_by_model=self.ended_by_model, **timings,
        )
        return timings


__all__ = ["TurnInput", "TurnTrace"]
