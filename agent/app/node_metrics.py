"""What the node's ``/metrics`` shows beyond the counters and timings components report.

Two kinds of readings, both taken from the objects that hold the state rather than counted again:

- ``ProcessReadings``: state each process (the front and every SIP worker) holds — its LLM
  breaker, its calls' emotion-client breakers, its records writer's health. A collector read at
  scrape time would only see the front, so each process copies these into gauges of the node's
  multiprocess directory: workers every ``REFRESH_S``, the front also just before each scrape.
- ``NodeCollector``: state only the front holds, read at scrape time — the in-process emotion
  service, the webhook outbox (one query of the shared store) and the node's call capacity.

``NodeMetrics.render`` adds them to every process's metric files (agent/app/metrics_dir.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from agent.app.logs import get_logger
from agent.app.metrics_dir import MetricsDirectory
from agent.services.metrics import Metrics
from emotion.breaker import BreakerState

if TYPE_CHECKING:
    from agent.services.llm import LlmWriter
    from agent.services.records.store import RecordStore
    from agent.services.records.writer import RecordWriter
    from emotion.client import EmotionClient
    from emotion.service import EmotionService

REFRESH_S = 2.0  # how stale a worker's breaker and records readings may be on a scrape
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format generate_latest writes


class ProcessReadings:
    def __init__(self, metrics: Metrics, llm: LlmWriter | None, records: Callable[[], RecordWriter | None],
                 emotion_clients: Callable[[], Iterable[EmotionClient]]) -> None:
        self._llm = llm
        self._records = records
        self._emotion_clients = emotion_clients
        self._llm_breaker = metrics.gauge("llm_breaker", "Processes whose LLM breaker is in this state (llm.base_url set)",
                                          ["state"]) if llm is not None else None
        self._emotion_breaker = metrics.gauge("emotion_breaker", "Calls whose emotion-service breaker is in this state",
                                              ["state"])
        # livemin: 1 only while every process's writer reaches the store
        self._records_healthy = metrics.gauge("records_writer_healthy", "1 while the records writer reaches the store "
                                              "(0: records go to the spool)", mode="livemin")

    def refresh(self) -> None:
        """On the event loop: the objects read here are the loop's."""
        if self._llm_breaker is not None and self._llm is not None:
            for state in BreakerState:
                self._llm_breaker.labels(str(state)).set(1 if self._llm.breaker_state is state else 0)
        states = [client.breaker.state for client in list(self._emotion_clients())]
        for state in BreakerState:
            self._emotion_breaker.labels(str(state)).set(states.count(state))
        writer = self._records()
        if writer is not None:
            self._records_healthy.set(1 if writer.status.healthy else 0)


class NodeCollector(Collector):
    """Read at scrape time, in the front, on a worker thread (the outbox count is a store query)."""

    def __init__(self, capacity: int, emotion_service: Callable[[], EmotionService | None],
                 store: Callable[[], RecordStore | None]) -> None:
        self._capacity = capacity
        self._emotion_service = emotion_service
        self._store = store
        self._log = get_logger("node_metrics")

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("bedside_calls_capacity", "Calls this node takes at once (sip.max_calls)", value=self._capacity)
        service = self._emotion_service()
        if service is not None:
            yield GaugeMetricFamily("bedside_emotion_service_connections", "Open emotion-service connections (one per call)",
                                    value=service.connections)
            yield GaugeMetricFamily("bedside_emotion_service_pending", "Payloads accepted and not yet scored",
                                    value=service.pending)
            yield CounterMetricFamily("bedside_emotion_service_scored", "Payloads (2-s segments, transcripts) scored since start",
                                      value=service.served)
        store = self._store()
        if store is not None:
            from agent.services.records.outbox import outbox_counts
            from agent.services.records.store import StoreError

            try:
                counts = outbox_counts(store)
            except StoreError as exc:  # a store that is down: the writer's gauge says so; the rest still scrapes
                self._log.warning("outbox_count_failed", error=str(exc))
            else:
                family = GaugeMetricFamily("bedside_webhook_outbox", "Webhook deliveries in the shared outbox, per state",
                                           labels=["state"])
                for state, n in sorted(counts.items()):
                    family.add_metric([state], n)
                yield family


class NodeMetrics:
    """The node's ``/metrics`` body: every process's metrics plus the front's scrape-time readings."""

    def __init__(self, own: Metrics, collector: Collector, directory: MetricsDirectory | None) -> None:
        self._registry = CollectorRegistry()
        if directory is not None:
            MultiProcessCollector(self._registry, path=str(directory.path))  # the front's own files included
        else:
            self._registry.register(own.registry)  # one process: its own objects
        self._registry.register(collector)

    def render(self) -> bytes:
        """Blocking (files and a store query): call it on a worker thread."""
        return generate_latest(self._registry)


__all__ = ["CONTENT_TYPE", "REFRESH_S", "NodeCollector", "NodeMetrics", "ProcessReadings"]
