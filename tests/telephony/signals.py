"""Real-audio helpers shared by the VAD, segmenter and barge-in tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from telephony.audio import FRAME_SAMPLES, SAMPLE_RATE


def load16(path: Path) -> np.ndarray:
    """Any audio file -> float32 mono at 16 kHz."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return soxr.resample(x, sr, SAMPLE_RATE) if sr != SAMPLE_RATE else x


def through_phone(x: np.ndarray) -> np.ndarray:
    """16 kHz -> 8 kHz -> 8-bit mu-law companding -> 16 kHz: what a PCMU caller sounds like."""
    x8 = soxr.resample(x, SAMPLE_RATE, 8000)
    mu = 255.0
    y = np.round(np.sign(x8) * np.log1p(mu * np.minimum(np.abs(x8), 1.0)) / np.log1p(mu) * 127) / 127
    return soxr.resample((np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu).astype(np.float32), 8000, SAMPLE_RATE)


def pcm(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def frame_db(x: np.ndarray) -> np.ndarray:
    """RMS level of each 20 ms frame (framed like ``split_frames``), in dBFS."""
    f = np.pad(x, (0, -len(x) % FRAME_SAMPLES)).reshape(-1, FRAME_SAMPLES).astype(np.float64)
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(f * f, axis=1)), 1e-6))
