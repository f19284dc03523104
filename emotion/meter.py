"""The counters and timings the emotion package reports, as an interface.

The composition root hands in its metrics object (agent/services/metrics.py); the emotion
package depends only on these two methods, so it does not import the layer above it."""

from __future__ import annotations

from typing import Protocol


class Meter(Protocol):
    def inc(self, name: str, amount: int = 1) -> None: ...

    def observe_ms(self, stage: str, ms: float) -> None: ...


class NullMeter:
    """Counts nothing: for the emotion client used on its own (tests, tools)."""

    def inc(self, name: str, amount: int = 1) -> None:
        pass

    def observe_ms(self, stage: str, ms: float) -> None:
        pass


__all__ = ["Meter", "NullMeter"]
