"""The caller's running baseline: shrinkage toward the actors' resting voice, gated learning, trust."""

from __future__ import annotations

import numpy as np
import pytest

from emotion.caller_baseline import CallerBaseline
from emotion.config import AdaptationConfig

REF = np.zeros(4, np.float32)


def test_starts_at_the_reference_and_moves_to_the_caller_as_it_learns() -> None:
    b = CallerBaseline(AdaptationConfig(prior_segments=2))
    assert np.array_equal(b.estimate(REF), REF)
    voice = np.full(4, 3.0, np.float32)
    b.learn(voice, resting=1.0)
    assert b.estimate(REF) == pytest.approx(np.full(4, 1.0))  # one segment against a prior of two
    for _ in range(19):
        b.learn(voice, resting=1.0)
    assert b.estimate(REF) == pytest.approx(np.full(4, 3.0 * 20 / 22))


def test_after_the_first_seconds_only_resting_segments_teach_it() -> None:
    b = CallerBaseline(AdaptationConfig(learn_segments=3, resting_min=0.35))
    calm, angry = np.ones(4, np.float32), np.full(4, 9.0, np.float32)
    assert all(b.learn(calm, resting=0.0) for _ in range(3))  # the first seconds always count
    assert not b.learn(angry, resting=0.1)  # an outburst is read against the earlier voice ...
    assert b.learned == 3
    assert b.learn(calm, resting=0.6)  # ... and a resting segment still teaches it
    assert b.learned == 4


def test_learning_stops_after_max_segments() -> None:
    b = CallerBaseline(AdaptationConfig(max_segments=5))
    for _ in range(8):
        b.learn(np.ones(4, np.float32), resting=1.0)
    assert b.learned == 5


def test_trust_follows_the_median_atypicality() -> None:
    b = CallerBaseline()
    assert b.trust() == 1.0  # nothing heard yet: the absolute reading as before
    for a in (-0.5, -0.2, 5.0):  # one odd segment does not move the median
        b.observe(a)
    assert b.atypicality() == -0.2 and b.trust() == 1.0
    for a in (0.5, 0.5, 0.5, 0.5):
        b.observe(a)
    assert b.trust() == pytest.approx(0.5)
    for a in (3.0,) * 10:
        b.observe(a)
    assert b.trust() == 0.0
    assert b.segments == 17
