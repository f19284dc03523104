"""A telephone line in software, for training and evaluating the emotion models on what a
phone call really delivers: 8 kHz, a 300-3400 Hz band, G.711 mu-law and real background noise.

Noise comes from two real sources in ../shared: the 16 kHz background recordings (dishes, tap,
bike, cat) and NOIZEUS, whose noisy files are sample-aligned with the clean ones, so
``noisy - clean`` is the recorded airport/babble/car/street/... noise itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, sosfilt

from emotion.training.data import noise_files, noizeus_pairs
from telephony.audio import SAMPLE_RATE
from telephony.g711 import mulaw_round_trip

PHONE_RATE = 8000
BAND_HZ = (300.0, 3400.0)
_BAND_SOS = butter(4, BAND_HZ, btype="bandpass", fs=PHONE_RATE, output="sos")


def load_noise_bank(root: Path | None = None) -> list[np.ndarray]:
    """Real noise clips at 8 kHz, each normalised to unit RMS."""
    bank = []
    for path in noise_files(root):
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
        bank.append(soxr.resample(x.mean(axis=1), rate, PHONE_RATE))
    for clean_path, noisy_path in noizeus_pairs(root):
        clean, _ = sf.read(str(clean_path), dtype="float32")
        noisy, _ = sf.read(str(noisy_path), dtype="float32")
        n = min(len(clean), len(noisy))
        bank.append(noisy[:n] - clean[:n])
    return [(x / max(float(np.sqrt(np.mean(x**2))), 1e-6)).astype(np.float32) for x in bank if x.size > PHONE_RATE // 4]


@dataclass
class PhoneChannel:
    """``apply(x16k)``: what the far end of a G.711 call hears, back at 16 kHz.

    Noise is added at an SNR drawn from ``snr_db`` (None: no noise); ``rng`` makes it reproducible."""

    noise_bank: list[np.ndarray] = field(default_factory=list)
    snr_db: tuple[float, float] | None = (5.0, 20.0)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def apply(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            return x.astype(np.float32)
        y = soxr.resample(x.astype(np.float32), SAMPLE_RATE, PHONE_RATE)
        if self.noise_bank and self.snr_db is not None:
            y = y + self._noise(y)
        y = sosfilt(_BAND_SOS, y).astype(np.float32)
        peak = float(np.max(np.abs(y)))
        if peak > 1.0:  # a phone's AGC, not hard clipping, deals with a hot signal
            y = y / peak
        y = soxr.resample(mulaw_round_trip(y), PHONE_RATE, SAMPLE_RATE).astype(np.float32)
        # 16k -> 8k -> 16k can gain or lose a sample on odd lengths; keep the caller's length.
        return np.pad(y[: x.size], (0, max(0, x.size - y.size)))

    def _noise(self, y: np.ndarray) -> np.ndarray:
        clip = self.noise_bank[int(self.rng.integers(len(self.noise_bank)))]
        if clip.size < y.size:
            clip = np.tile(clip, y.size // clip.size + 1)
        start = int(self.rng.integers(clip.size - y.size + 1))
        snr = float(self.rng.uniform(*self.snr_db))
        speech_rms = float(np.sqrt(np.mean(y**2)))
        return clip[start : start + y.size] * speech_rms * 10 ** (-snr / 20.0)
