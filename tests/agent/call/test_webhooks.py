"""Webhook delivery against a real local HTTP server (http.server on a thread): success, an HTTP
error, a dead port and a slow receiver all end in a record, never an exception."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from structlog.testing import capture_logs

from agent.call.webhooks import WebhookSender
from agent.services.metrics import Metrics
from tests.processes import free_port


class Receiver:
    """Records POSTed JSON; answers with ``status`` after ``delay_s``."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                time.sleep(delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/bedside"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


PAYLOAD = {"event": "appointment_booked", "call_id": "in-1", "node": "booked",
           "slots": {"full_name": "Maria Lopez", "appointment": "2026-12-02T09:00"}}


@pytest.fixture
async def sender():
    s = WebhookSender(Metrics())
    yield s
    await s.aclose()


async def test_delivered_payload_and_a_log_without_phi(sender):
    receiver = Receiver()
    try:
        with capture_logs() as logs:
            outcome = await sender.send(receiver.url, PAYLOAD, 3.0, "in-1")
        assert outcome.delivered and outcome.status == 200 and outcome.error is None
        assert receiver.bodies == [PAYLOAD]
        (sent,) = [e for e in logs if e["event"] == "webhook_sent"]
        assert "Maria" not in json.dumps(sent) and sent["hook"] == "appointment_booked"
        assert sender.metrics.counter("webhooks_delivered") == 1
    finally:
        receiver.close()


async def test_http_error_dead_port_and_timeout_are_recorded_not_raised(sender):
    failing = Receiver(status=500)
    slow = Receiver(delay_s=2.0)
    try:
        assert (await sender.send(failing.url, PAYLOAD, 3.0, "c")).status == 500
        dead = await sender.send(f"http://127.0.0.1:{free_port()}/x", PAYLOAD, 3.0, "c")
        assert not dead.delivered and dead.status is None and dead.error and dead.ms >= 0
        started = time.monotonic()
        late = await sender.send(slow.url, PAYLOAD, 0.5, "c")
        assert not late.delivered and "Timeout" in late.error and time.monotonic() - started < 1.5
        assert sender.metrics.counter("webhook_failures") == 3
    finally:
        failing.close()
        slow.close()
