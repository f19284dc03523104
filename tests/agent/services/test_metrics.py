"""Metrics: prometheus-client objects in a registry of their own, percentiles kept beside them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from agent.services.metrics import TURN_BUCKETS, Metrics


def families(metrics: Metrics) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(metrics.exposition().decode())}


def test_counters_and_turn_stages_are_prometheus_counters_and_histograms() -> None:
    metrics = Metrics()
    metrics.inc("calls")
    metrics.inc("calls", 2)
    metrics.inc("action_call-back")  # a name Prometheus would not take as it is
    metrics.observe_turn_ms("first_audio_ms", 320)
    metrics.observe_turn_ms("first_audio_ms", 1200)
    metrics.observe_ms("records_commit_ms", 3)
    found = families(metrics)
    assert [s.value for s in found["bedside_calls"] if s.name == "bedside_calls_total"] == [3.0]
    assert any(s.name == "bedside_action_call_back_total" and s.value == 1 for s in found["bedside_action_call_back"])
    buckets = {s.labels["le"]: s.value for s in found["bedside_turn_stage_seconds"]
               if s.name.endswith("_bucket") and s.labels["stage"] == "first_audio"}
    assert len(buckets) == len(TURN_BUCKETS) + 1  # and +Inf
    assert buckets["0.3"] == 0 and buckets["0.4"] == 1 and buckets["1.5"] == 2 and buckets["+Inf"] == 2
    count = [s.value for s in found["bedside_operation_seconds"]
             if s.name == "bedside_operation_seconds_count" and s.labels["operation"] == "records_commit"]
    assert count == [1.0]
    assert metrics.counter("calls") == 3


def test_percentiles_and_the_snapshot_still_read_the_samples() -> None:
    metrics = Metrics()
    for ms in range(1, 101):
        metrics.observe_turn_ms("vad_ms", ms)
    p = metrics.percentiles("vad_ms")
    assert p["n"] == 100 and p["p50"] == 50.5 and p["max"] == 100
    assert round(p["p95"], 2) == 95.05
    assert metrics.percentiles("never_ms") == {"n": 0}
    metrics.inc("turns")
    snapshot = metrics.snapshot()
    assert snapshot["counters"] == {"turns": 1} and snapshot["timings_ms"]["vad_ms"]["n"] == 100


def test_samples_are_bounded() -> None:
    metrics = Metrics()
    metrics.MAX_SAMPLES = 5  # type: ignore[misc]
    for ms in range(10):
        metrics.observe_ms("x_ms", ms)
    assert metrics.percentiles("x_ms")["n"] == 5 and metrics.percentiles("x_ms")["max"] == 9


def test_two_instances_share_nothing() -> None:
    one, two = Metrics(), Metrics()
    one.inc("calls")
    one.observe_turn_ms("first_audio_ms", 100)
    one.calls_active.inc()
    assert two.counter("calls") == 0 and two.percentiles("first_audio_ms") == {"n": 0}
    assert "bedside_calls_total" not in two.exposition().decode()
    assert "bedside_calls_active 0.0" in two.exposition().decode()
    assert "bedside_calls_active 1.0" in one.exposition().decode()


def test_gauges_are_made_once_and_labelled() -> None:
    metrics = Metrics()
    gauge = metrics.gauge("llm_breaker", "breaker", ["state"])
    assert metrics.gauge("llm_breaker", "breaker", ["state"]) is gauge
    gauge.labels("open").set(1)
    assert 'bedside_llm_breaker{state="open"} 1.0' in metrics.exposition().decode()
