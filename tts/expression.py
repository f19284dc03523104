"""The delivery styles Bedside's voice can take, and what each one does to the audio.

The voice style policy (agent/call/voice_style.py) picks an :class:`Expression` for every reply; the
preset for it (``configs/expressions.yaml``, or the clinic's own file) sets:

* **pace**: piper's ``length_scale`` (>1 slower);
* **variability**: piper's ``noise_scale`` (phoneme noise) and ``noise_w_scale`` (rhythm);
* **volume**: ``gain_db`` after synthesis;
* **pauses**: ``sentence_pause_ms`` between sentences and ``clause_pause_ms`` at commas,
  semicolons and dashes (around the phrases that carry a fact);
* **emphasis**: the clauses that carry a key fact (a day, a time, a number) are said
  ``emphasis_slowdown`` times slower and ``emphasis_db`` louder;
* **warmth**: ``warmth_db`` of gentle spectral tilt, a low shelf raised and a high shelf
  lowered by that much (negative: brighter, for urgency).

tests/tts/test_expression.py measures the result (speaking rate from STT word timestamps,
loudness, spectral tilt) and asserts the presets keep their order."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "configs" / "expressions.yaml"


class Expression(StrEnum):
    NEUTRAL = "neutral"
    CALM = "calm"
    SYMPATHETIC = "sympathetic"
    CONCERNED = "concerned"
    ENTHUSIASTIC = "enthusiastic"
    DIRECT = "direct"
    URGENT = "urgent"


class ExpressionPreset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    length_scale: float = Field(1.0, ge=0.5, le=2.0, description="piper pace: >1 slower, <1 faster")
    noise_scale: float = Field(0.667, ge=0, le=1.5, description="piper phoneme noise: variability of intonation")
    noise_w_scale: float = Field(0.8, ge=0, le=1.5, description="piper phoneme-width noise: variability of rhythm")
    gain_db: float = Field(0.0, ge=-12, le=6, description="volume after synthesis (a soft limiter keeps peaks below full scale)")
    sentence_pause_ms: int = Field(120, ge=0, le=2000, description="silence between sentences")
    clause_pause_ms: int = Field(0, ge=0, le=1000, description="extra silence at commas, semicolons and dashes (0: piper's own)")
    emphasis_db: float = Field(0.0, ge=0, le=6, description="gain on clauses that carry a key fact (day, time, number)")
    emphasis_slowdown: float = Field(1.0, ge=1.0, le=1.5, description="those clauses are said this much slower")
    warmth_db: float = Field(0.0, ge=-6, le=6, description="spectral tilt: +dB low shelf (400 Hz) and -dB high shelf (2.5 kHz), loudness kept")


class ExpressionBook(BaseModel):
    """Every expression's preset; the file must define all of them, and nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    presets: dict[Expression, ExpressionPreset]

    @model_validator(mode="after")
    def _complete(self) -> ExpressionBook:
        missing = [e.value for e in Expression if e not in self.presets]
        if missing:
            raise ValueError(f"expressions without a preset: {missing}")
        return self

    def __getitem__(self, expression: Expression) -> ExpressionPreset:
        return self.presets[expression]


def bundled_expressions() -> ExpressionBook:
    """The presets shipped in configs/expressions.yaml (tests keep it valid). A clinic's own file
    is loaded with FILE:LINE:COL errors by the composition root (agent/app/expression_file.py)."""
    return ExpressionBook.model_validate(yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8")))
