"""Text-to-speech configuration (piper)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TtsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    voice: str = Field("joe", description="'joe' (bundled en_US-joe-medium) or a path to a piper .onnx voice")
    length_scale: float = Field(1.0, gt=0.2, lt=3.0, description="piper speaking pace (>1 slower)")
    noise_scale: float = Field(0.667, ge=0, le=2, description="piper phoneme noise (variability of delivery)")
    noise_w_scale: float = Field(0.8, ge=0, le=2, description="piper phoneme-width noise (rhythm variability)")
    volume: float = Field(1.0, gt=0, le=2.0, description="linear gain on the synthesized audio")
    sentence_pause_ms: int = Field(120, ge=0, le=2000, description="silence inserted between sentences")
    cache_entries: int = Field(256, ge=0, description="pre-synthesized phrases kept in memory (LRU)")
    threads: int = Field(1, ge=1, le=8, description="onnxruntime threads per synthesis")
