"""A real call through the bundled clinic graph: ``bedside serve`` (responder: graph) and the QA
caller ``bedside call`` (pjsua2 at both ends, loopback). The caller speaks with the piper voice,
keys its date of birth, books the first time offered and hangs up on the graph's goodbye; the
booking webhook reaches a real local HTTP receiver (the clinic's booking system stand-in) through
the durable outbox — after that receiver was down for 30 s."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from graph.config import DEFAULT_GRAPH
from tests.e2e.harness import start_call, start_server
from tests.processes import free_port

pytestmark = [pytest.mark.call, pytest.mark.slow]


class BookingSystem:
    """The clinic's booking system: down (nothing listening on its port) until ``up()``; then it
    records each POST with its Idempotency-Key and answers 200."""

    def __init__(self) -> None:
        self.port = free_port(socket.SOCK_STREAM)
        self.url = f"http://127.0.0.1:{self.port}/hooks/bedside"
        self.posts: list[tuple[str, dict]] = []
        self.server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                posts.append((self.headers["Idempotency-Key"], json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def test_a_caller_books_an_appointment_by_voice_and_keypad(tmp_path: Path) -> None:
    booking_system = BookingSystem()
    graph = tmp_path / "clinic.yaml"
    graph.write_text(DEFAULT_GRAPH.read_text().replace(
        "{type: webhook, event: appointment_booked,", f"{{type: webhook, event: appointment_booked, url: '{booking_system.url}',"))
    server = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=4", f"graph.path={graph}",
                          "records.outbox.first_retry_s=1", "records.outbox.max_retry_s=4")
    try:
        caller = start_call(
            server.uri, "--say", "Yes, that's fine.", "--say", "My name is Maria Lopez.", "--dtmf", "03031985",
            "--say", "I'd like to book an appointment.", "--say", "The first one, please.", "--say", "Yes.",
            "--say", "No, that's all, thank you.", "--duration", "150",
        )
        (first_try,) = server.wait_for("webhook_failed", timeout=170)[:1]  # the booking system is down
        assert first_try["hook"] == "appointment_booked" and first_try["error"] == "ConnectError", first_try
        time.sleep(30.0)  # down for 30 s from the first attempt (seen within 0.1 s of its log line)
        booking_system.up()
        out, err = caller.communicate(timeout=180)
        assert caller.returncode == 0, err.decode(errors="replace")[-2000:]
        events = [json.loads(line) for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
        server.wait_for("call_ended", timeout=30)
        steps = server.events_named("graph_step")
        nodes = [node for step in steps for node in step["path"]]
        assert nodes[:2] == ["greeting", "consent"], nodes
        for expected in ("identify", "menu", "booking", "booking_confirm", "booked", "anything_else", "goodbye"):
            assert expected in nodes, nodes
        (ended,) = server.events_named("call_ended")
        assert ended["reason"] == "responder ended call"
        assert not server.events_named("call_failed")
        (sent,) = server.wait_for("webhook_delivered", timeout=30)
        assert sent["hook"] == "appointment_booked" and sent["status"] == 200 and sent["attempt"] > 1
        retries = server.events_named("webhook_failed")
        assert len(retries) >= 3 and all(r["delivery"] == sent["delivery"] for r in retries)
        time.sleep(3.0)  # a double would come within one more backoff (max 4 s)
        (key, body), = booking_system.posts  # exactly once, under one idempotency key
        assert key == sent["delivery"]
        # The name is what tiny.en heard of the piper voice ("Maria Lopez", "Marita Lopas",
        # "Marie"): slot extraction on transcripts is tested in tests/graph/slots/. The date
        # of birth was keyed, so it is exact.
        name = body["slots"]["full_name"]
        assert len(name) >= 3 and body["slots"]["date_of_birth"] == "1985-03-03", body
        assert body["slots"]["appointment"].startswith("20")
        # Privacy: slot names in the log, never their values.
        for event in [*steps, *server.events_named("agent_action"), sent]:
            assert name not in str(event) and "1985-03-03" not in str(event), event
        said = " ".join(str(e.get("text", "")) for e in events if e.get("event") == "agent_said").lower()
        assert "riverside" in said and ("remind" in said or "december" in said) and "take care" in said, said
    finally:
        booking_system.close()
        assert server.stop() == 0
