"""The text and signal sides of an expression: clauses, key facts, the warmth filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import sosfreqz

from tts.measure import active_speech_level_dbfs, spectral_tilt
from tts.voicing import TRIM_LEAD_MS, TRIM_TAIL_MS, _tilt_sos, carries_key_fact, clauses, db_to_gain, tilt, trim_edges


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
    assert active_speech_level_dbfs(warm) == pytest.approx(active_speech_level_dbfs(noise), abs=0.2)
    assert spectral_tilt(warm) < spectral_tilt(noise) - 1.0
    assert spectral_tilt(tilt(noise, -4.0, 16000)) > spectral_tilt(noise) + 1.0
    assert tilt(noise, 0.0, 16000) is noise


def test_loudness_follows_gain_and_ignores_silence() -> None:
    t = np.arange(16000) / 16000
    tone = (0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    padded = np.concatenate([tone, np.zeros(48000, dtype=np.float32)])
    assert active_speech_level_dbfs(padded) == pytest.approx(active_speech_level_dbfs(tone), abs=0.1)  # pauses do not dilute it
    assert active_speech_level_dbfs(tone * db_to_gain(-6)) == pytest.approx(active_speech_level_dbfs(tone) - 6, abs=0.1)


def test_trim_edges_cuts_quiet_edges_and_keeps_a_margin_round_the_sound() -> None:
    rate = 16000
    rng = np.random.default_rng(3)
    sound = (0.5 * rng.standard_normal(rate // 2)).astype(np.float32)
    hiss = (1e-4 * rng.standard_normal(rate // 4)).astype(np.float32)  # -74 dB below the sound's peak
    trimmed = trim_edges(np.concatenate([hiss, sound, hiss]), rate, below_db=-50.0)
    lead, tail = rate * TRIM_LEAD_MS // 1000, rate * TRIM_TAIL_MS // 1000
    assert trimmed.size == sound.size + lead + tail  # the sound starts and ends on a 10 ms window
    assert np.array_equal(trimmed[lead: lead + 100], sound[:100])  # the sound itself is untouched


def test_trim_edges_leaves_sound_quiet_audio_and_nothing_alone() -> None:
    rate = 16000
    tone = np.sin(2 * np.pi * 220 * np.arange(rate) / rate).astype(np.float32)
    assert np.array_equal(trim_edges(tone, rate, -50.0), tone)  # loud to the edges: nothing to cut
    quiet = np.zeros(rate, np.float32)
    assert np.array_equal(trim_edges(quiet, rate, -50.0), quiet)  # no sound at all: kept as it is
    assert trim_edges(np.zeros(0, np.float32), rate, -50.0).size == 0
    assert trim_edges(tone[:50], rate, -50.0).size == 50  # shorter than one window
