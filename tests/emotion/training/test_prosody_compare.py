"""The hand-made prosody features used in the feature comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotion.audio import load_audio
from emotion.training.data import ravdess_clips
from emotion.training.prosody_compare import handmade_features


def test_handmade_features_follow_pitch_and_loudness(shared: Path) -> None:
    t = np.arange(32000) / 16000
    low = handmade_features((0.1 * np.sin(2 * np.pi * 120 * t)).astype(np.float32))
    high = handmade_features((0.1 * np.sin(2 * np.pi * 240 * t)).astype(np.float32))
    quiet = handmade_features((0.01 * np.sin(2 * np.pi * 120 * t)).astype(np.float32))
    dim = low.size
    assert all(f.shape == (dim,) and np.isfinite(f).all() for f in (low, high, quiet))
    pitch_median = dim - 3 - 2  # the F0 statistics are mean, std, p10, p50, p90 before 3 extras
    assert abs(high[pitch_median] - low[pitch_median] - 12.0) < 1.0  # an octave is 12 semitones (integer lags)
    assert low[0] > quiet[0] + 15  # mean log energy: 20 dB apart
    speech = handmade_features(load_audio(ravdess_clips(shared)[0].path)[:32000])
    assert np.isfinite(speech).all()
    assert np.isfinite(handmade_features(np.zeros(32000, np.float32))).all()
