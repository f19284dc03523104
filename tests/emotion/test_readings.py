"""What a service answer weighs in the window, and what a burst's meaning adds."""

from __future__ import annotations

import pytest

from emotion.burst_meaning import BurstMeaning
from emotion.readings import MIN_EVIDENCE, UNSURE, burst_reading, evidence, named_emotion

GROAN = BurstMeaning(-0.5, 0.45)


def test_evidence_is_the_calibrated_confidence() -> None:
    assert evidence({"confidence": 0.42}) == 0.42
    assert evidence({"confidence": 0.0}) == MIN_EVIDENCE  # unsure still counts a little
    assert evidence({"confidence": 7}) == 1.0
    assert evidence({}) == 1.0  # a service without calibration counts fully, as before


def test_a_burst_reads_as_its_type_and_its_meaning() -> None:
    pain = {"affect": {"Pain": 0.7, "Relief": 0.1, "Neutral": 0.2}, "affect_valence": -0.7, "affect_arousal": 0.7}
    relief = {"affect": {"Pain": 0.05, "Relief": 0.8, "Neutral": 0.15}, "affect_valence": 0.5, "affect_arousal": 0.3}
    v_pain, a_pain, top_pain = burst_reading(GROAN, pain)
    v_relief, _, top_relief = burst_reading(GROAN, relief)
    assert v_pain == pytest.approx(-0.6) and a_pain == pytest.approx(0.575) and top_pain == ("Pain", 0.7)
    assert v_relief == pytest.approx(0.0) and top_relief == ("Relief", 0.8)
    assert v_pain < GROAN.valence < v_relief  # the same sound, read apart by what it meant


def test_without_an_affect_the_type_alone() -> None:
    assert burst_reading(GROAN, {"emotions": []}) == (-0.5, 0.45, None)
    assert burst_reading(GROAN, {"affect": {}, "affect_valence": 0.9}) == (-0.5, 0.45, None)


def test_a_segment_is_named_only_when_its_emotion_is_more_likely_than_not() -> None:
    assert named_emotion({"sad": 0.66, "neutral": 0.2, "calm": 0.14}, 0.5) == "sad"
    assert named_emotion({"calm": 0.5, "neutral": 0.5}, 0.5) == "calm"  # at the threshold: named
    # the QA voice's typical weak lean: a 0.34 "sad" beside a 0.30 "calm" is unsure, not sad
    assert named_emotion({"sad": 0.34, "calm": 0.30, "neutral": 0.28, "angry": 0.08}, 0.5) == UNSURE
    assert named_emotion({"sad": 0.34, "calm": 0.30}, 0.3) == "sad"  # the threshold is the config's
    assert named_emotion({}, 0.5) == UNSURE
