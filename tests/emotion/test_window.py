"""The rolling window: bounds, monotonicity and recency (hypothesis), and the documented behaviour."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotion.config import DefaultsConfig, WindowConfig
from emotion.events import Channel, Reading, Trend, UpdateSource
from emotion.window import RollingWindow

NOW = 60.0

readings = st.lists(
    st.builds(
        Reading,
        channel=st.sampled_from(list(Channel)),
        at_s=st.floats(NOW - 40.0, NOW),
        valence=st.floats(-1.0, 1.0),
        arousal=st.floats(0.0, 1.0),
        weight=st.floats(0.0, 1.0),
    ),
    min_size=0,
    max_size=40,
)


def _window(items: list[Reading]) -> RollingWindow:
    w = RollingWindow()
    for r in sorted(items, key=lambda r: r.at_s):
        w.add(r)
    return w


@settings(max_examples=300, deadline=None)
@given(readings)
def test_bounds(items: list[Reading]) -> None:
    s = _window(items).state(NOW)
    assert -1.0 <= s.valence <= 1.0
    assert 0.0 <= s.arousal <= 1.0
    assert 0.0 <= s.coherence <= 1.0
    assert s.trend in Trend
    assert (s.trend is Trend.STABLE) == (abs(s.slope_per_min) < WindowConfig().trend_threshold_per_min)


@settings(max_examples=400, deadline=None)
@given(readings, st.integers(0, 39), st.floats(0.0, 2.0))
def test_lowering_any_reading_never_raises_valence(items: list[Reading], index: int, drop: float) -> None:
    if not items:
        return
    index %= len(items)
    lower = list(items)
    lower[index] = dataclasses.replace(items[index], valence=max(-1.0, items[index].valence - drop))
    before = _window(items).state(NOW).valence
    after = _window(lower).state(NOW).valence
    assert after <= before + 1e-9


@settings(max_examples=300, deadline=None)
@given(readings, st.integers(0, 39), st.floats(0.0, 1.0))
def test_raising_any_arousal_never_lowers_arousal(items: list[Reading], index: int, rise: float) -> None:
    if not items:
        return
    index %= len(items)
    higher = list(items)
    higher[index] = dataclasses.replace(items[index], arousal=min(1.0, items[index].arousal + rise))
    assert _window(higher).state(NOW).arousal >= _window(items).state(NOW).arousal - 1e-9


@settings(max_examples=300, deadline=None)
@given(st.floats(-0.3, 0.3), st.floats(-1.0, -0.5), st.integers(2, 14), st.integers(0, 100), st.integers(0, 100))
def test_recency_a_newer_reading_counts_more(baseline: float, outlier: float, n: int, a: int, b: int) -> None:
    """The same outlier among the same calm readings moves the state more when it is newer."""
    old, new = sorted((a % n, b % n))
    if old == new:
        return
    times = [NOW - 2.0 * (n - 1 - i) for i in range(n)]  # oldest first, the last at NOW

    def valence_with_outlier_at(k: int) -> float:
        return _window([Reading(Channel.PROSODY, t, outlier if i == k else baseline, 0.5) for i, t in enumerate(times)]).state(NOW).valence

    assert valence_with_outlier_at(new) < valence_with_outlier_at(old)


def test_old_readings_leave_the_window() -> None:
    w = RollingWindow()
    w.add(Reading(Channel.PROSODY, 0.0, -0.9, 0.9))
    r = 1 - 10 / 30  # its recency weight at 10 s, against the neutral prior's 1
    assert w.state(10.0).valence == pytest.approx(-0.9 * r / (r + 1.0))
    s = w.state(31.0)
    assert s.readings == 0 and s.valence == DefaultsConfig().valence and s.arousal == DefaultsConfig().arousal


def _calm_call(w: RollingWindow, until: float, valence: float = 0.2) -> float:
    t = 0.0
    while t < until:
        t += 2.0
        w.add(Reading(Channel.PROSODY, t, valence, 0.3))
    return t


def test_one_frustrated_utterance_does_not_swing_the_state() -> None:
    w = RollingWindow()
    t = _calm_call(w, 30.0)
    before = w.state(t)
    for _ in range(2):  # a 4-s frustrated utterance: two segments
        t += 2.0
        w.add(Reading(Channel.PROSODY, t, -0.8, 0.8))
        after = w.state(t)
        assert after.trend is Trend.STABLE
    assert before.trend is Trend.STABLE
    assert before.valence - after.valence < 0.3
    for _ in range(3):  # the caller is calm again
        t += 2.0
        w.add(Reading(Channel.PROSODY, t, 0.2, 0.3))
        assert w.state(t).trend is Trend.STABLE


def test_a_sustained_shift_registers_within_seconds() -> None:
    w = RollingWindow()
    t0 = t = _calm_call(w, 30.0)
    deteriorating_at = None
    while t - t0 < 12.0:
        t += 2.0
        w.add(Reading(Channel.PROSODY, t, -0.7, 0.8))
        if deteriorating_at is None and w.state(t).trend is Trend.DETERIORATING:
            deteriorating_at = t - t0
    assert deteriorating_at is not None and deteriorating_at <= 6.0
    assert w.state(t).valence < -0.2


def test_flat_voice_outweighs_fine_words() -> None:
    """'I'm fine' (positive words) in a flat, sad voice reads as negative: the documented example."""
    w = RollingWindow()
    for t in (2.0, 4.0, 6.0, 8.0):
        w.add(Reading(Channel.PROSODY, t, -0.5, 0.2))
    w.add(Reading(Channel.LANGUAGE, 8.0, 0.4, 0.3))
    s = w.state(8.0)
    assert s.valence == pytest.approx(-0.159, abs=0.01)
    assert s.coherence < 0.75
    # each channel's mean includes the neutral prior (weight 1): 4 recent segments, one utterance
    assert s.channels == {Channel.PROSODY: pytest.approx(-0.5 * 3.6 / 4.6), Channel.LANGUAGE: pytest.approx(0.4 / 2.0)}
    agree = RollingWindow()
    for t in (2.0, 4.0, 6.0, 8.0):
        agree.add(Reading(Channel.PROSODY, t, 0.35, 0.4))
    agree.add(Reading(Channel.LANGUAGE, 8.0, 0.4, 0.3))
    assert agree.state(8.0).coherence > 0.95 and agree.state(8.0).valence > 0.2


def test_bursts_and_top_emotions_reach_the_update() -> None:
    w = RollingWindow()
    w.add(Reading(Channel.PROSODY, 2.0, -0.6, 0.3, emotions=(("sad", 0.7), ("calm", 0.2), ("neutral", 0.1))))
    w.add(Reading(Channel.BURST, 2.0, -0.35, 0.25, weight=0.9, burst="sigh"))
    w.add(Reading(Channel.LANGUAGE, 3.0, -0.2, 0.4, emotions=(("sadness", 0.6), ("neutral", 0.3))))
    u = w.update("call-1", 3.0)
    assert u.source is UpdateSource.READING and u.available
    assert u.last_burst is not None and u.last_burst.name == "sigh" and u.last_burst.score == 0.9
    assert [(e.channel, e.name) for e in u.top_emotions][:2] == [(Channel.PROSODY, "sad"), (Channel.LANGUAGE, "sadness")]
    assert u.as_dict()["recent_bursts"][0]["name"] == "sigh"
    d = w.defaults_update("call-1", 4.0)
    assert not d.available and d.source is UpdateSource.DEFAULTS and d.valence == DefaultsConfig().valence


def test_rejects_out_of_range_readings() -> None:
    with pytest.raises(ValueError, match="out of range"):
        RollingWindow().add(Reading(Channel.PROSODY, 0.0, 1.5, 0.5))


def test_weak_evidence_stays_near_neutral_and_steady_evidence_takes_over() -> None:
    """Unsure readings (low weight: the model's calibrated confidence) cannot drift a caller
    negative; the same valence read with confidence, steadily, does register."""
    unsure, sure = RollingWindow(), RollingWindow()
    for t in np.arange(2.0, 32.0, 2.0):
        unsure.add(Reading(Channel.PROSODY, float(t), -0.5, 0.6, weight=0.05))
        sure.add(Reading(Channel.PROSODY, float(t), -0.5, 0.6, weight=0.9))
    assert -0.15 < unsure.state(30.0).valence < 0.0
    assert sure.state(30.0).valence < -0.4
    assert unsure.state(30.0).arousal < sure.state(30.0).arousal
