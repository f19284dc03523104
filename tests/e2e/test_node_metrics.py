"""The node's /health and /metrics over real calls: a call on the front and one redirected to a
SIP worker both show on the front's /metrics (prometheus-client's multiprocess directory), with
their turns' stage latencies; SIGTERM turns /health to 503 "draining" while a call is still up."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import start_call, start_server
from tests.processes import free_port

pytestmark = [pytest.mark.call, pytest.mark.slow]


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx2.get(f"{base}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} in {timeout}s"
        time.sleep(0.25)


def test_metrics_count_calls_on_the_front_and_a_worker_and_health_says_draining(tmp_path, shared) -> None:
    port = free_port(socket.SOCK_STREAM)
    base = f"http://127.0.0.1:{port}"
    # One call on the front (calls_per_process 2 keeps one slot for refusals), the next on worker 1.
    server = start_server(tmp_path, "sip.max_calls=3", "sip.calls_per_process=2", f"console.port={port}",
                          "emotion.service.mode=off", "sip.drain_timeout_s=60")
    sentence = shared / "data" / "noizeus" / "clean" / "sp07.flac"
    callers = []
    try:
        health = httpx2.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ready" and health.json()["capacity"] == 3
        callers.append(start_call(server.uri, "--play", str(sentence), "--no-transcribe", "--duration", "14"))
        until(lambda: value(scrape(base), "bedside_calls_active") >= 1, 15, "active call on /metrics")
        callers.append(start_call(server.uri, "--play", str(sentence), "--no-transcribe", "--duration", "26"))
        until(lambda: value(scrape(base), "bedside_calls_active") >= 2, 15, "second active call")
        assert httpx2.get(f"{base}/health", timeout=10).json()["active_calls"] == 2
        # Both callers' turns: the front saw one call, so a total of two is the worker's counted too.
        until(lambda: value(scrape(base), "bedside_turns_total") >= 2, 30, "two turns")
        samples = scrape(base)
        assert value(samples, "bedside_calls_total") == 2
        assert value(samples, "bedside_turn_stage_seconds_count", stage="first_audio") >= 2
        assert value(samples, "bedside_turn_stage_seconds_bucket", stage="first_audio", le="+Inf") >= 2
        assert value(samples, "bedside_turn_stage_seconds_sum", stage="first_audio") > 0
        assert value(samples, "bedside_records_writer_healthy") == 1
        # The second caller was sent to the worker (302), so the front counted one call itself.
        assert [e["decision"] for e in server.events_named("call_incoming")].count(302) == 1

        assert callers[0].wait(30) == 0
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for("draining", timeout=10)
        health = httpx2.get(f"{base}/health", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "draining"
        assert health.json()["active_calls"] >= 1 and callers[1].poll() is None  # the worker's call is still up
        assert value(scrape(base), "bedside_calls_active") >= 1
        assert callers[1].wait(40) == 0
        assert server.proc.wait(30) == 0
    finally:
        for caller in callers:
            if caller.poll() is None:
                caller.kill()
        if server.proc.poll() is None:
            server.stop()
