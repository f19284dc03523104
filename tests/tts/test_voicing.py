"""The text and signal sides of an expression: clauses, key facts, the warmth filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import sosfreqz

from tts.measure import loudness_dbfs, spectral_tilt
from tts.voicing import _tilt_sos, carries_key_fact, clauses, db_to_gain, tilt


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("I have an opening with Doctor Patel, on Tuesday at ten.", ["I have an opening with Doctor Patel,", "on Tuesday at ten."]),
        ("Yes, that works.", ["Yes, that works."]),  # a short piece stays attached
        ("Your results are in; the nurse will call you today - before five.",
         ["Your results are in;", "the nurse will call you today", "- before five."]),
        ("No pauses here at all.", ["No pauses here at all."]),
    ],
)
def test_clauses_cut_where_a_speaker_pauses(sentence: str, expected: list[str]) -> None:
    assert clauses(sentence) == expected
    assert " ".join(clauses(sentence)) == sentence


def test_key_facts_are_days_times_and_numbers() -> None:
    assert carries_key_fact("on Tuesday at ten")
    assert carries_key_fact("your code is 4 4 2")
    assert carries_key_fact("please come at 9 a.m.")
    assert not carries_key_fact("thank you for waiting")
    assert not carries_key_fact("I understand, that sounds hard")


def test_warmth_raises_lows_lowers_highs_and_keeps_loudness() -> None:
    _, response = sosfreqz(_tilt_sos(4.0, 16000), worN=[100.0, 1000.0, 5000.0], fs=16000)
    low, mid, high = 20 * np.log10(np.abs(response))
    assert low > 3.0 and abs(mid) < 1.0 and high < -3.0
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal(32000) * 0.1).astype(np.float32)
    warm = tilt(noise, 4.0, 16000)
    assert loudness_dbfs(warm) == pytest.approx(loudness_dbfs(noise), abs=0.2)
    assert spectral_tilt(warm) < spectral_tilt(noise) - 1.0
    assert spectral_tilt(tilt(noise, -4.0, 16000)) > spectral_tilt(noise) + 1.0
    assert tilt(noise, 0.0, 16000) is noise


def test_loudness_follows_gain_and_ignores_silence() -> None:
    t = np.arange(16000) / 16000
    tone = (0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    padded = np.concatenate([tone, np.zeros(48000, dtype=np.float32)])
    assert loudness_dbfs(padded) == pytest.approx(loudness_dbfs(tone), abs=0.1)  # pauses do not dilute it
    assert loudness_dbfs(tone * db_to_gain(-6)) == pytest.approx(loudness_dbfs(tone) - 6, abs=0.1)
