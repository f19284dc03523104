"""Reading caller audio files (wav, flac, mp3, ogg, any rate) into 16 kHz PCM, and writing WAVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from telephony.audio import SAMPLE_RATE, float_to_pcm16


class AudioFileError(ValueError):
    pass


def load_pcm16k(path: str | Path) -> bytes:
    """Any readable audio file -> 16 kHz mono int16 PCM. Clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{path}: cannot decode audio: {exc}") from None
    if data.size == 0:
        raise AudioFileError(f"{path}: audio file is empty")
    mono = data.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise AudioFileError(f"{path}: audio contains NaN or infinite samples")
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return float_to_pcm16(mono)


def write_wav(path: str | Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.frombuffer(pcm, dtype="<i2"), rate, subtype="PCM_16")


def speech_bounds(pcm: bytes, threshold_db: float = -40.0, frame_ms: int = 20) -> tuple[float, float]:
    """(start_s, end_s) of the audible part, by frame energy relative to the file's peak frame."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    n = SAMPLE_RATE * frame_ms // 1000
    frames = x[: len(x) // n * n].reshape(-1, n)
    if frames.size == 0:
        return 0.0, 0.0
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.nonzero(db > db.max() + threshold_db)[0]
    if loud.size == 0:
        return 0.0, 0.0
    return loud[0] * frame_ms / 1000.0, (loud[-1] + 1) * frame_ms / 1000.0
