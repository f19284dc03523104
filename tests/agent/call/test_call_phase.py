"""Call-phase adaptation: hurry after a long deteriorating call, the urgency flag after
sustained negative valence; an outage neither raises nor hides it."""

from __future__ import annotations

from dataclasses import replace

from agent.call.call_phase import CallPhaseConfig, CallPhaseTracker, Phase
from emotion.events import EmotionUpdate, Trend, UpdateSource

CONFIG = CallPhaseConfig(hurry_after_s=300, urgent_after_s=600, negative_valence=-0.15, recovery_s=20)


def update(valence: float, trend: Trend = Trend.STABLE, available: bool = True) -> EmotionUpdate:
    return EmotionUpdate("c", 0.0, valence, 0.5, trend, 0.0, 1.0, UpdateSource.READING, available=available, readings=3)


def test_hurry_needs_both_a_long_call_and_a_deteriorating_trend() -> None:
    tracker = CallPhaseTracker(CONFIG, started_at=0.0)
    tracker.observe(update(-0.1, Trend.DETERIORATING), 100.0)
    assert tracker.current(100.0).phase is Phase.OPENING  # deteriorating, but only 100 s in
    assert tracker.current(301.0).phase is Phase.HURRY and tracker.current(301.0).hurry
    tracker.observe(update(-0.1, Trend.IMPROVING), 302.0)
    assert tracker.current(303.0).phase is Phase.ONGOING and not tracker.current(303.0).hurry


def test_sustained_negative_valence_raises_the_flag_once() -> None:
    tracker = CallPhaseTracker(CONFIG, started_at=0.0)
    raised = [t for t in range(0, 700, 2) if tracker.observe(update(-0.4), float(t))]
    assert raised == [600]  # exactly when urgent_after_s of negative valence has passed
    assert tracker.current(650.0).phase is Phase.URGENT and tracker.flagged_at == 600.0


def test_silence_does_not_break_the_count_but_relief_does() -> None:
    tracker = CallPhaseTracker(CONFIG, started_at=0.0)
    tracker.observe(update(-0.4), 0.0)
    tracker.observe(update(-0.4), 200.0)  # 200 s of agent talking and no readings between
    assert tracker.negative_s(200.0) == 200.0
    tracker.observe(update(0.2), 210.0)  # a moment's relief ...
    tracker.observe(update(-0.4), 220.0)
    assert tracker.negative_s(220.0) == 220.0  # ... shorter than recovery_s does not restart it
    tracker.observe(update(0.2), 230.0)
    tracker.observe(update(0.3), 251.0)  # better for over recovery_s: the count restarts
    assert tracker.negative_s(251.0) == 0.0
    assert not tracker.observe(update(-0.4), 600.0)


def test_an_outage_neither_raises_nor_hides_the_flag() -> None:
    tracker = CallPhaseTracker(CONFIG, started_at=0.0)
    tracker.observe(update(-0.4), 0.0)
    for t in range(10, 590, 10):
        assert not tracker.observe(update(0.0, available=False), float(t))  # defaults while the breaker is open
    assert tracker.observe(update(-0.4), 600.0)
    no_readings = replace(update(-0.9), readings=0)
    fresh = CallPhaseTracker(CONFIG, started_at=0.0)
    assert not fresh.observe(no_readings, 0.0) and fresh.negative_s(700.0) == 0.0
