"""How speech sounds, in numbers: speaking rate, loudness and spectral tilt.

Used to check that expressions really differ (tests/tts/test_expression.py, ``bedside bench
expressions``) and to check, on a recorded call, that a reply was delivered the way the
policy chose (tests/e2e/test_call_delivery.py).

* **rate**: words per second from STT word timestamps (faster-whisper), first word start to
  last word end, so pauses between sentences count (they are part of the pace a caller hears);
* **loudness**: active speech level in dBFS, the RMS of the 20 ms frames within 40 dB of the
  loudest (silences between words and sentences do not dilute it);
* **tilt**: the slope of the long-term spectrum in dB per octave between 150 Hz and 4 kHz
  (Welch PSD, log-frequency least squares): warmer speech has a steeper negative slope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from telephony.audio import SAMPLE_RATE, pcm16_to_float

FRAME = SAMPLE_RATE // 50  # 20 ms
ACTIVE_RANGE_DB = 40.0
TILT_BAND_HZ = (150.0, 4000.0)


@dataclass(frozen=True, slots=True)
class SpeechMeasures:
    words: int
    words_per_s: float
    loudness_dbfs: float
    tilt_db_per_octave: float
    duration_s: float

    def as_dict(self) -> dict[str, float]:
        return {
            "words": self.words, "words_per_s": round(self.words_per_s, 2), "loudness_dbfs": round(self.loudness_dbfs, 1),
            "tilt_db_per_octave": round(self.tilt_db_per_octave, 2), "duration_s": round(self.duration_s, 2),
        }


def active_speech_level_dbfs(samples: np.ndarray) -> float:
    """Active speech level: RMS over the 20 ms frames within ``ACTIVE_RANGE_DB`` of the loudest."""
    frames = samples[: samples.size // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    if frames.size == 0:
        return float("-inf")
    energy = np.mean(frames**2, axis=1)
    loudest = float(np.max(energy))
    if loudest <= 0:
        return float("-inf")
    active = energy[energy >= loudest * 10 ** (-ACTIVE_RANGE_DB / 10)]
    return float(10 * np.log10(np.mean(active)))


def spectral_tilt(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """dB per octave of the long-term spectrum over ``TILT_BAND_HZ``."""
    from scipy.signal import welch  # here, not at the top: scipy.signal costs a SIP worker that uses the
    # front's voice (and never renders audio) ~75 MB (docs/benchmarks.md)

    freqs, power = welch(samples.astype(np.float64), fs=rate, nperseg=1024)
    band = (freqs >= TILT_BAND_HZ[0]) & (freqs <= TILT_BAND_HZ[1]) & (power > 0)
    if band.sum() < 2:
        return 0.0
    slope, _ = np.polyfit(np.log2(freqs[band]), 10 * np.log10(power[band]), 1)
    return float(slope)


def speaking_rate(samples: np.ndarray, whisper: Any) -> tuple[int, float]:
    """(words, words per second) from faster-whisper word timestamps."""
    segments, _ = whisper.transcribe(samples, language="en", beam_size=1, word_timestamps=True, vad_filter=False)
    words = [w for segment in segments for w in (segment.words or []) if w.word.strip()]
    if len(words) < 2:
        return len(words), 0.0
    span = words[-1].end - words[0].start
    return len(words), (len(words) / span if span > 0 else 0.0)


def measure(pcm: bytes, whisper: Any) -> SpeechMeasures:
    """All three measures of 16 kHz int16 PCM."""
    samples = pcm16_to_float(pcm)
    words, rate = speaking_rate(samples, whisper)
    return SpeechMeasures(words, rate, active_speech_level_dbfs(samples), spectral_tilt(samples), samples.size / SAMPLE_RATE)
