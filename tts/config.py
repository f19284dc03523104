"""Text-to-speech configuration (piper). How each expression sounds is its own file
(``expressions``, default ``configs/expressions.yaml``; see tts/expression.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class TtsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    voice: str = Field("joe", description="'joe' (bundled en_US-joe-medium) or a path to a piper .onnx voice")
    expressions: Path | None = Field(None, description="expression presets (pace, pauses, warmth ...); empty = the bundled configs/expressions.yaml")
    length_scale: float = Field(1.0, gt=0.2, lt=3.0, description="global pace, multiplied into every expression's (>1 slower)")
    volume: float = Field(1.0, gt=0, le=2.0, description="global linear gain, on top of every expression's gain_db")
    trim_silence_db: float | None = Field(-50.0, lt=0, description="cut piper's own silence at the edges of each rendered sentence or clause: quieter than this many dB below its peak (null: keep it), so the pauses are the expression's and replies start without a lag")
    speech_level_dbfs: float | None = Field(-22.0, ge=-40.0, le=-12.0, description="every sentence is rendered at this active speech level (dBFS, 20 ms frames within 40 dB of the loudest) before its expression's gain_db, so an expression's loudness is its gain and not piper's per-sentence peak normalisation (null: piper's peak level, 1 dB under full scale)")
    cache_entries: int = Field(1024, ge=0, description="most pre-synthesized sentences kept in memory (LRU)")
    cache_mb: float = Field(96.0, ge=0, description="and at most this much audio (16 kHz PCM: 1 MB is 33 s)")
    presynthesize: bool = Field(True, description="at start-up, synthesize every scripted line in every expression (default expression first, the rest in the background)")
    threads: int = Field(1, ge=1, le=8, description="onnxruntime threads per synthesis")
    prepare_ahead: bool = Field(True, description="while the caller answers, synthesize the sentences with their details that the next reply may start with (kept for the call only), when the synthesizer is otherwise idle")
