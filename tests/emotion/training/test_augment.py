"""Recording-condition augmentation: each condition changes the sound, keeps the length, and is reproducible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import welch

from emotion.audio import load_audio
from emotion.training.augment import CONDITIONS, Augmenter
from emotion.training.channel import load_noise_bank
from emotion.training.data import ravdess_clips


@pytest.fixture(scope="module")
def clip(shared: Path) -> np.ndarray:
    return load_audio(ravdess_clips(shared)[3].path)


def _spectrum(x: np.ndarray) -> np.ndarray:
    return welch(x, fs=16000, nperseg=512)[1]


@pytest.mark.parametrize("condition", CONDITIONS)
def test_each_condition_changes_the_sound_and_keeps_the_length(shared: Path, clip: np.ndarray, condition: str) -> None:
    y, chain = Augmenter(load_noise_bank(shared), np.random.default_rng(5)).apply(clip, [condition])
    assert chain == (condition,)
    assert y.shape == clip.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert not np.allclose(y, clip, atol=1e-3)
    if condition in ("mic", "room"):  # colour, not level
        assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(clip**2)), rel=1e-3)
        assert np.abs(np.log10(_spectrum(y) + 1e-12) - np.log10(_spectrum(clip) + 1e-12)).mean() > 0.05


def test_codec_is_narrowband_like_the_getgoing_calls(clip: np.ndarray) -> None:
    y, _ = Augmenter(rng=np.random.default_rng(0)).apply(clip, ["codec"])
    f, p = welch(y, fs=16000, nperseg=1024)
    assert p[f > 4500].sum() / p.sum() < 1e-3


def test_level_never_clips(clip: np.ndarray) -> None:
    aug = Augmenter(rng=np.random.default_rng(1))
    loud = clip / np.max(np.abs(clip)) * 0.9
    for _ in range(20):
        assert np.max(np.abs(aug.level(loud))) <= 0.95 + 1e-6


def test_chains_are_random_but_reproducible(shared: Path, clip: np.ndarray) -> None:
    bank = load_noise_bank(shared)
    a = [Augmenter(bank, np.random.default_rng(9)).apply(clip) for _ in range(1)][0]
    b = Augmenter(bank, np.random.default_rng(9)).apply(clip)
    assert a[1] == b[1] and np.array_equal(a[0], b[0])
    chains = {Augmenter(bank, np.random.default_rng(s)).draw_chain() for s in range(40)}
    assert len(chains) > 8


def test_unknown_condition_is_refused(clip: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown augmentation"):
        Augmenter().apply(clip, ["underwater"])
