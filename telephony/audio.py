"""The one PCM format every Bedside component speaks: 16 kHz, 16-bit, mono, 20 ms frames."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 320
FRAME_BYTES = FRAME_SAMPLES * 2  # 640
SILENT_FRAME = bytes(FRAME_BYTES)


def pcm16_to_float(pcm: bytes | np.ndarray) -> np.ndarray:
    """int16 PCM bytes (or array) -> float32 in [-1, 1)."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, (bytes, bytearray, memoryview)) else pcm
    return samples.astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> int16 PCM bytes, clipping rather than wrapping."""
    # The exact inverse of pcm16_to_float (x / 32768), so int16 -> float -> int16 is lossless.
    scaled = np.round(np.nan_to_num(np.asarray(samples, dtype=np.float64)) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def duration_s(pcm: bytes) -> float:
    return len(pcm) / 2 / SAMPLE_RATE


def split_frames(pcm: bytes) -> list[bytes]:
    """Cut PCM into whole 20 ms frames, zero-padding the last one."""
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1] + bytes(FRAME_BYTES - len(frames[-1]))
    return frames


def samples_dbfs(x: np.ndarray) -> float:
    """RMS level of float samples (full scale 1.0) in dBFS; -120 for nothing or digital silence.
    The one plain level measure: VAD onset, the emotion gates and the QA caller all use it
    (tts/measure.py's active speech level is a different measure, for rendered speech)."""
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * float(np.log10(max(rms, 1e-6)))


def rms_dbfs(pcm: bytes) -> float:
    """:func:`samples_dbfs` of a PCM16 chunk."""
    return samples_dbfs(pcm16_to_float(pcm))
