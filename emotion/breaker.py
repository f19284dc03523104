"""A circuit breaker for the emotion service, so that a sick service never slows a call.

CLOSED: requests flow; ``failure_threshold`` consecutive failures (a timeout, an error answer or a
disconnect) open the breaker. OPEN: nothing is sent for ``open_s`` seconds; the call runs on the
workspace-default emotional settings. HALF_OPEN: after that, exactly one probe request is let
through; its success closes the breaker, its failure opens it again for another ``open_s``.

The clock is injectable (``clock=``) so tests can step time; the breaker holds no lock because it
lives on one asyncio loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerTransition:
    at: float  # clock time
    before: BreakerState
    after: BreakerState
    reason: str


@dataclass
class CircuitBreaker:
    failure_threshold: int = 2
    open_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    on_transition: Callable[[BreakerTransition], None] | None = None
    state: BreakerState = field(default=BreakerState.CLOSED, init=False)
    failures: int = field(default=0, init=False)  # consecutive
    opened_at: float = field(default=0.0, init=False)
    probe_in_flight: bool = field(default=False, init=False)
    transitions: list[BreakerTransition] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.open_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and open_s > 0")

    def allow(self) -> bool:
        """May a request be sent now? In HALF_OPEN only the first caller gets the probe."""
        if self.state is BreakerState.OPEN and self.clock() - self.opened_at >= self.open_s:
            self._move(BreakerState.HALF_OPEN, "open period over")
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and not self.probe_in_flight:
            self.probe_in_flight = True
            return True
        return False

    @property
    def is_open(self) -> bool:
        """True while the call must use workspace defaults (OPEN, or HALF_OPEN before the probe succeeds)."""
        return self.state is not BreakerState.CLOSED

    def record_success(self) -> None:
        self.failures = 0
        self.probe_in_flight = False
        if self.state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, "probe succeeded")

    def record_failure(self, reason: str) -> None:
        self.probe_in_flight = False
        if self.state is BreakerState.HALF_OPEN:
            self._open(f"probe failed: {reason}")
            return
        if self.state is BreakerState.OPEN:
            return  # a late failure of a request sent before opening changes nothing
        self.failures += 1
        if self.failures >= self.failure_threshold:
            self._open(f"{self.failures} consecutive failures, last: {reason}")

    def _open(self, reason: str) -> None:
        self.opened_at = self.clock()
        self.failures = 0
        self._move(BreakerState.OPEN, reason)

    def _move(self, state: BreakerState, reason: str) -> None:
        transition = BreakerTransition(self.clock(), self.state, state, reason)
        self.state = state
        self.transitions.append(transition)
        if self.on_transition is not None:
            self.on_transition(transition)
