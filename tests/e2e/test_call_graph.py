"""A real call through the bundled clinic graph: ``bedside serve`` (responder: graph) and the QA
caller ``bedside call`` (pjsua2 at both ends, loopback). The caller speaks with the piper voice
and keys its date of birth; the server's log shows the walk through the graph, node by node,
and the call ends on the graph's goodbye."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import run_call, start_server

pytestmark = [pytest.mark.call, pytest.mark.slow]


def test_a_caller_walks_the_clinic_graph_by_voice_and_keypad(tmp_path: Path) -> None:
    server = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=4")
    try:
        result = run_call(
            server.uri, "--say", "Yes, that's fine.", "--say", "My name is Maria Lopez.", "--dtmf", "03031985",
            "--say", "What time do you close today?", "--say", "No, that's all, thank you.", "--duration", "120",
        )
        assert result.returncode == 0, result.stderr[-2000:]
        server.wait_for("call_ended", timeout=30)
        steps = server.events_named("graph_step")
        nodes = [node for step in steps for node in step["path"]]
        assert nodes[:2] == ["greeting", "consent"], nodes
        for expected in ("identify", "menu", "hours", "anything_else", "goodbye"):
            assert expected in nodes, nodes
        (ended,) = server.events_named("call_ended")
        assert ended["reason"] == "responder ended call"
        assert not server.events_named("call_failed")
        # Privacy: slot names in the log, never their values (log_transcripts is on in this
        # harness, so only the caller_said lines may carry words).
        for step in steps:
            assert "Maria" not in str(step) and "1985" not in str(step)
        said = " ".join(str(e.get("text", "")) for e in result.named("agent_said")).lower()
        assert "riverside" in said and "goodbye" in said, said  # the caller heard the graph's lines
    finally:
        assert server.stop() == 0
