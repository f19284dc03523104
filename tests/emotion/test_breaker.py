"""Circuit breaker transitions on a stepped clock."""

from __future__ import annotations

import pytest

from emotion.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_two_consecutive_failures_then_probes() -> None:
    clock = Clock()
    seen = []
    b = CircuitBreaker(failure_threshold=2, open_s=10.0, clock=clock, on_transition=seen.append)
    assert b.allow() and not b.is_open
    b.record_failure("timeout")
    assert b.state is BreakerState.CLOSED and b.allow()
    b.record_success()  # a success in between resets the count
    b.record_failure("timeout")
    assert b.state is BreakerState.CLOSED
    b.record_failure("disconnect")
    assert b.state is BreakerState.OPEN and b.is_open and not b.allow()
    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow()  # the one half-open probe
    assert b.state is BreakerState.HALF_OPEN and b.is_open
    assert not b.allow()  # nobody else while it is in flight
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow()
    assert [(t.before, t.after) for t in seen] == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert "2 consecutive failures, last: disconnect" in seen[0].reason


def test_failed_probe_reopens_for_a_full_period() -> None:
    clock = Clock()
    b = CircuitBreaker(clock=clock)
    b.record_failure("error")
    b.record_failure("error")
    clock.now += 10.0
    assert b.allow()
    b.record_failure("timeout")
    assert b.state is BreakerState.OPEN and b.opened_at == clock.now
    clock.now += 5.0
    assert not b.allow()
    b.record_failure("late answer of an old request")  # changes nothing while open
    clock.now += 5.0
    assert b.allow() and b.state is BreakerState.HALF_OPEN


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
