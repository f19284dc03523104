"""The node's HTTP port: /health for orchestrators and the dispatcher, /metrics for Prometheus,
the console only when it is attached; over a real socket."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx2
import pytest

from agent.app.console.app import create_app
from agent.app.console.config import ConsoleConfig
from agent.app.node_http import Health, NodeHttp, NodeState
from agent.app.node_metrics import CONTENT_TYPE, NodeCollector, NodeMetrics, ProcessReadings
from agent.services.metrics import Metrics
from emotion.breaker import BreakerState


class Node:
    """What the server hands the port: its state and its metrics."""

    def __init__(self) -> None:
        self.state = NodeState.STARTING
        self.active = 0
        self.metrics = Metrics()
        self.clients: list = []
        self.readings = ProcessReadings(self.metrics, None, lambda: None, lambda: self.clients)
        self.body = NodeMetrics(self.metrics, NodeCollector(8, lambda: None, lambda: None), None)

    def health(self) -> Health:
        return Health(self.state, self.active, 8, 2)

    async def scrape(self) -> tuple[bytes, str]:
        self.readings.refresh()
        return self.body.render(), CONTENT_TYPE


@pytest.fixture
async def served():
    node = Node()
    http = NodeHttp("127.0.0.1", 0, node.health, node.scrape)
    await http.start()
    try:
        yield node, http
    finally:
        await http.stop()


async def get(http: NodeHttp, path: str) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=5, follow_redirects=False) as client:
        return await client.get(http.url.rstrip("/") + path)


async def test_health_goes_from_starting_to_ready_to_draining(served) -> None:
    node, http = served
    r = await get(http, "/health")
    assert r.status_code == 503 and r.json() == {"status": "starting", "active_calls": 0, "capacity": 8, "worker_processes": 2}
    node.state, node.active = NodeState.READY, 3
    r = await get(http, "/health")
    assert r.status_code == 200 and r.json()["status"] == "ready" and r.json()["active_calls"] == 3
    node.state = NodeState.DRAINING
    r = await get(http, "/health")
    assert r.status_code == 503 and r.json()["status"] == "draining" and r.headers["cache-control"] == "no-store"


async def test_metrics_is_the_prometheus_text_format_with_the_calls_and_turns(served) -> None:
    node, http = served
    node.metrics.calls_active.inc()
    node.metrics.inc("calls")
    node.metrics.observe_turn_ms("first_audio_ms", 420)
    node.clients.append(type("Client", (), {"breaker": type("Breaker", (), {"state": BreakerState.OPEN})()})())
    r = await get(http, "/metrics")
    assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE
    text = r.text
    assert "bedside_calls_active 1.0" in text and "bedside_calls_total 1.0" in text
    assert 'bedside_turn_stage_seconds_bucket{le="0.5",stage="first_audio"} 1.0' in text
    assert 'bedside_turn_stage_seconds_count{stage="first_audio"} 1.0' in text
    assert 'bedside_emotion_breaker{state="open"} 1.0' in text and 'bedside_emotion_breaker{state="closed"} 0.0' in text
    assert "bedside_calls_capacity 8.0" in text


async def test_console_routes_answer_only_once_the_console_is_attached(served, tmp_path: Path) -> None:
    from agent.services.records.crypto import KeyRing, new_key
    from agent.services.records.store import RecordStore

    _, http = served
    assert (await get(http, "/login")).status_code == 404 and (await get(http, "/api/v1/health")).status_code == 404
    store = RecordStore(f"sqlite:///{tmp_path / 'records.sqlite3'}", KeyRing.of([new_key()], "test"))
    http.attach_console(create_app(ConsoleConfig(), store))
    try:
        assert (await get(http, "/login")).status_code == 200
        assert (await get(http, "/api/v1/health")).json() == {"status": "ok"}
        assert (await get(http, "/")).status_code == 303  # to the sign-in page
        assert (await get(http, "/health")).status_code == 503  # still the node's, not the console's
    finally:
        store.dispose()


async def test_a_taken_port_is_an_os_error_the_server_can_log() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        node = Node()
        with pytest.raises(OSError):
            NodeHttp("127.0.0.1", taken.getsockname()[1], node.health, node.scrape)
