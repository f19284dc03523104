"""The simulated phone line used to train and evaluate the emotion models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import welch

from emotion.audio import load_audio
from emotion.training.channel import PhoneChannel, load_noise_bank
from emotion.training.data import ravdess_clips


def _band_share(x: np.ndarray, lo: float, hi: float) -> float:
    f, p = welch(x, fs=16000, nperseg=1024)
    return float(p[(f >= lo) & (f <= hi)].sum() / p.sum())


def test_noise_bank_has_real_noise_from_both_sources(shared: Path) -> None:
    bank = load_noise_bank(shared)
    assert len(bank) > 400  # 4 background recordings + 480 NOIZEUS noise tracks
    assert all(abs(float(np.sqrt(np.mean(n**2))) - 1.0) < 1e-3 for n in bank)


def test_phone_channel_band_limits_and_adds_noise(shared: Path) -> None:
    x = load_audio(ravdess_clips(shared)[0].path)
    quiet = PhoneChannel([], snr_db=None).apply(x)
    assert quiet.shape == x.shape
    assert _band_share(x, 4000, 8000) > 1e-3 and _band_share(quiet, 4000, 8000) < 1e-4
    noisy = PhoneChannel(load_noise_bank(shared), snr_db=(5.0, 5.0), rng=np.random.default_rng(3)).apply(x)
    residual = noisy - quiet
    snr = 10 * np.log10(np.mean(quiet**2) / np.mean(residual**2))
    assert 2.0 < snr < 9.0  # noise was added at ~5 dB SNR (band-pass and companding shift it a little)


def test_reproducible_with_a_seed(shared: Path) -> None:
    bank = load_noise_bank(shared)
    x = load_audio(ravdess_clips(shared)[5].path)
    a = PhoneChannel(bank, rng=np.random.default_rng(7)).apply(x)
    b = PhoneChannel(bank, rng=np.random.default_rng(7)).apply(x)
    assert np.array_equal(a, b)
