"""The PCM helpers every layer shares (telephony/audio.py): conversions and the one level measure."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.audio import SAMPLE_RATE, float_to_pcm16, pcm16_to_float, rms_dbfs, samples_dbfs


def test_a_full_scale_sine_is_minus_three_dbfs_and_silence_is_the_floor() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sine = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    assert samples_dbfs(sine) == pytest.approx(-3.01, abs=0.01)
    assert samples_dbfs(0.01 * sine) == pytest.approx(-43.01, abs=0.01)
    assert samples_dbfs(np.zeros(160, dtype=np.float32)) == -120.0
    assert samples_dbfs(np.zeros(0, dtype=np.float32)) == -120.0


def test_the_pcm_level_is_the_level_of_its_samples() -> None:
    rng = np.random.default_rng(1)
    pcm = float_to_pcm16(0.1 * rng.standard_normal(3200).astype(np.float32))
    assert rms_dbfs(pcm) == samples_dbfs(pcm16_to_float(pcm))
    assert rms_dbfs(b"") == -120.0
