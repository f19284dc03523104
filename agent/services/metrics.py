"""Metrics: counters, gauges and stage timings as prometheus-client objects, plus percentiles.

One ``Metrics`` per server, handed to each component (no globals): its metric objects live in
its own ``CollectorRegistry``, never the library's default one, so two instances (tests, a bench
beside a server) share nothing. ``inc(name)`` is the counter ``bedside_<name>_total``;
``observe_turn_ms`` (the turn trace's stages) feeds ``bedside_turn_stage_seconds{stage}``; every
other ``observe_ms`` feeds ``bedside_operation_seconds{operation}``. Timings are also kept as
samples for ``percentiles``/``snapshot`` (the ``stopped`` log line and the benches).

In ``bedside serve`` the values are written to the node's multiprocess directory
(``PROMETHEUS_MULTIPROC_DIR``, agent/app/metrics_dir.py) so the front's ``/metrics`` adds up
every SIP worker; prometheus-client chooses that mode when ``prometheus_client.values`` is first
imported, which is why the library is imported here only when a ``Metrics`` is made."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "bedside_"
# A caller's turn: 50 ms (a cached reply's first frame) .. 10 s (a slow LLM), denser where callers notice.
TURN_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0)
# Everything else (a records commit, an emotion round trip, an STT decode): 1 ms .. 10 s.
OPERATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    """``bedside_`` + the name with anything Prometheus does not allow as ``_``."""
    return PREFIX + _INVALID.sub("_", name)


def stage_label(stage: str) -> str:
    """``first_audio_ms`` -> ``first_audio``: the unit is in the metric's name."""
    return stage.removesuffix("_ms")


class Metrics:
    MAX_SAMPLES = 10_000  # per stage; oldest dropped

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Gauge, Histogram

        self.registry = registry if registry is not None else CollectorRegistry()
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._counter_objects: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}
        self._timings: dict[str, deque[float]] = {}
        self._turn_stages: Histogram = Histogram(
            "bedside_turn_stage_seconds", "Caller turn stage, from the end of the caller's speech (or last key)",
            ["stage"], buckets=TURN_BUCKETS, registry=self.registry,
        )
        self._operations: Histogram = Histogram(
            "bedside_operation_seconds", "Time an operation took (records commit, emotion round trip, STT decode, ...)",
            ["operation"], buckets=OPERATION_BUCKETS, registry=self.registry,
        )
        # livesum: in multiprocess mode, the sum over the node's live processes (a dead worker's calls drop out).
        self.calls_active: Gauge = Gauge("bedside_calls_active", "Calls in progress", registry=self.registry,
                                         multiprocess_mode="livesum")

    def inc(self, name: str, amount: int = 1) -> None:
        from prometheus_client import Counter

        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + amount
            counter = self._counter_objects.get(name)
            if counter is None:
                counter = self._counter_objects[name] = Counter(metric_name(name), f"Bedside count: {name}",
                                                                registry=self.registry)
        counter.inc(amount)

    def observe_ms(self, stage: str, ms: float) -> None:
        self._sample(stage, ms)
        self._operations.labels(stage_label(stage)).observe(max(0.0, ms) / 1000)

    def observe_turn_ms(self, stage: str, ms: float) -> None:
        """One stage of a caller's turn (agent/call/turn_trace.py)."""
        self._sample(stage, ms)
        self._turn_stages.labels(stage_label(stage)).observe(max(0.0, ms) / 1000)

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str] = (), mode: str = "livesum") -> Gauge:
        """The gauge ``bedside_<name>``, made on first use; ``mode``: how the node's processes add up
        (prometheus-client's multiprocess_mode)."""
        from prometheus_client import Gauge

        with self._lock:
            gauge = self._gauges.get(name)
            if gauge is None:
                gauge = self._gauges[name] = Gauge(metric_name(name), documentation, list(labelnames),
                                                   registry=self.registry, multiprocess_mode=mode)
            return gauge

    def _sample(self, stage: str, ms: float) -> None:
        with self._lock:
            samples = self._timings.get(stage)
            if samples is None:
                samples = self._timings[stage] = deque(maxlen=self.MAX_SAMPLES)
            samples.append(float(ms))

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

    def exposition(self) -> bytes:
        """This instance's metrics in the Prometheus text format (this process only)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


__all__ = ["OPERATION_BUCKETS", "TURN_BUCKETS", "Metrics", "metric_name", "stage_label"]
