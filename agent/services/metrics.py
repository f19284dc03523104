"""In-process metrics: counters and per-stage timing samples, with percentiles.

One ``Metrics`` per server, handed to each component (no globals). Stage timings are also
logged per turn; this keeps the distribution for the shutdown summary and benchmarks."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np


class Metrics:
    MAX_SAMPLES = 10_000  # per stage; oldest dropped

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = defaultdict(int)
        self._timings: dict[str, list[float]] = defaultdict(list)

    def inc(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def observe_ms(self, stage: str, ms: float) -> None:
        with self._lock:
            samples = self._timings[stage]
            samples.append(float(ms))
            if len(samples) > self.MAX_SAMPLES:
                del samples[: len(samples) - self.MAX_SAMPLES]

    def counter(self, name: str) -> int:
        with self._lock:
            return self._counters.get(name, 0)

    def percentiles(self, stage: str) -> dict[str, float]:
        with self._lock:
            samples = list(self._timings.get(stage, ()))
        if not samples:
            return {"n": 0}
        arr = np.asarray(samples)
        return {
            "n": len(samples),
            "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)),
            "max": float(arr.max()),
        }

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            counters = dict(self._counters)
            stages = list(self._timings)
        return {"counters": counters, "timings_ms": {s: self.percentiles(s) for s in stages}}
