"""A real call through the bundled clinic graph: ``bedside serve`` (responder: graph) and the QA
caller ``bedside call`` (pjsua2 at both ends, loopback). The caller speaks with the piper voice,
keys its date of birth, books the first time offered and hangs up on the graph's goodbye; the
booking webhook reaches a real local HTTP receiver (the clinic's booking system stand-in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.config import DEFAULT_GRAPH
from tests.agent.call.test_webhooks import Receiver
from tests.e2e.harness import run_call, start_server

pytestmark = [pytest.mark.call, pytest.mark.slow]


def test_a_caller_books_an_appointment_by_voice_and_keypad(tmp_path: Path) -> None:
    booking_system = Receiver()
    graph = tmp_path / "clinic.yaml"
    graph.write_text(DEFAULT_GRAPH.read_text().replace(
        "{type: webhook, event: appointment_booked,", f"{{type: webhook, event: appointment_booked, url: '{booking_system.url}',"))
    server = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=4", f"graph.path={graph}")
    try:
        result = run_call(
            server.uri, "--say", "Yes, that's fine.", "--say", "My name is Maria Lopez.", "--dtmf", "03031985",
            "--say", "I'd like to book an appointment.", "--say", "The first one, please.", "--say", "Yes.",
            "--say", "No, that's all, thank you.", "--duration", "150",
        )
        assert result.returncode == 0, result.stderr[-2000:]
        server.wait_for("call_ended", timeout=30)
        steps = server.events_named("graph_step")
        nodes = [node for step in steps for node in step["path"]]
        assert nodes[:2] == ["greeting", "consent"], nodes
        for expected in ("identify", "menu", "booking", "booking_confirm", "booked", "anything_else", "goodbye"):
            assert expected in nodes, nodes
        (ended,) = server.events_named("call_ended")
        assert ended["reason"] == "responder ended call"
        assert not server.events_named("call_failed")
        (sent,) = server.wait_for("webhook_sent", timeout=10)
        assert sent["hook"] == "appointment_booked" and sent["status"] == 200
        (body,) = booking_system.bodies
        # The name is what tiny.en heard of the piper voice ("Maria Lopez", "Marita Lopas",
        # "Marie"): slot extraction on transcripts is tested in tests/graph/slots/. The date
        # of birth was keyed, so it is exact.
        name = body["slots"]["full_name"]
        assert len(name) >= 3 and body["slots"]["date_of_birth"] == "1985-03-03", body
        assert body["slots"]["appointment"].startswith("20")
        # Privacy: slot names in the log, never their values.
        for event in [*steps, *server.events_named("agent_action"), sent]:
            assert name not in str(event) and "1985-03-03" not in str(event), event
        said = " ".join(str(e.get("text", "")) for e in result.named("agent_said")).lower()
        assert "riverside" in said and ("remind" in said or "december" in said) and "take care" in said, said
    finally:
        booking_system.close()
        assert server.stop() == 0
