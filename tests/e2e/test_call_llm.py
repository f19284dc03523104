"""LLM-worded replies on a real call, and the call going on when the LLM dies.

``bedside serve`` on the clinic graph with ``llm.base_url`` at the bundled llama.cpp server
(agent/app/local_llm.py: SmolLM2-135M-Instruct, a real model), and the QA caller ``bedside call``
over loopback SIP. The first replies are worded by the model; then the model's server is killed
(as a crash) and the rest of the conversation is the graph's scripted lines, to its goodbye.

The budgets are wide (a loaded CI machine must not turn this into a timing test); how fast the
model is, and how often the 1.5-s default budget holds, is measured by ``bedside bench latency
--llm local`` (docs/benchmarks.md)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from agent.app.local_llm import LocalLlmServer, LocalLlmSettings
from tests.e2e.harness import start_call, start_server
from tests.processes import free_port

pytestmark = [pytest.mark.call, pytest.mark.slow]


def test_a_real_llm_words_the_replies_and_its_death_leaves_the_scripted_lines(tmp_path: Path) -> None:
    log = (tmp_path / "llm.log").open("wb")
    llm = LocalLlmServer(LocalLlmSettings(port=free_port(socket.SOCK_STREAM)), log=log).start()
    server = None
    try:
        server = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=4", *llm.settings.bedside_settings(),
                              "llm.first_sentence_budget_s=10", "llm.total_budget_s=30", "llm.open_s=600",
                              "logging.log_transcripts=false")  # the default (the harness turns it on)
        caller = start_call(
            server.uri, "--say", "Yes, that's fine.", "--say", "My name is Maria Lopez.", "--dtmf", "03031985",
            "--say", "I'd like to book an appointment.", "--say", "The first one, please.", "--say", "Yes.",
            "--say", "No, that's all, thank you.", "--duration", "180",
        )
        worded = server.wait_for("llm_reply", count=2, timeout=150)
        # The model answered within the budget (a sentence with a time or day the line lacks is cut,
        # graph/facts.py), and its own words were said.
        assert all(r["outcome"] in ("complete", "max_sentences", "invented_fact") for r in worded), worded
        assert any(r["sentences"] >= 1 for r in worded), worded
        llm.kill()  # the model's server crashes mid-call
        out, err = caller.communicate(timeout=240)
        assert caller.returncode == 0, err.decode(errors="replace")[-2000:]
        (ended,) = server.wait_for("call_ended", timeout=30)

        # Node replies were the model's (slot questions, like the date of birth after the name, are
        # always the graph's own words).
        replies = [t["reply"] for t in server.events_named("turn")]
        assert replies[0] == "worded" and replies.count("worded") >= 3, replies
        # After the crash: the scripted line, said in full, and the conversation went on to its goodbye.
        fallbacks = [e for e in server.events_named("llm_fallback") if e["reason"].startswith("error")]
        assert fallbacks, server.events_named("llm_reply")
        nodes = [node for step in server.events_named("graph_step") for node in step["path"]]
        assert "goodbye" in nodes, nodes
        assert ended["reason"] == "responder ended call", ended

        events = [json.loads(line) for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
        heard = [e for e in events if e.get("event") == "agent_said"]
        assert len(heard) >= 7, heard  # the greeting and a reply to each of the caller's turns

        # Privacy: neither the prompt nor the model's words reach the agent's log (no name, no reply).
        text = server.log_path.read_text(errors="replace")
        assert "Lopez" not in text and "reply_text" not in text
    finally:
        llm.stop()
        log.close()
        if server is not None:
            assert server.stop() == 0
