"""``bedside bench latency`` on the product's default path, for real: one clinic conversation over
loopback SIP against ``bedside serve`` (graph responder, emotion in-process), read back from the
bench's own output. Pre-synthesis of the other expressions is off, so the bench need not wait for
it (the default expression's lines are warmed before the server is ready either way)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from agent.app.bench_latency import llm_report
from agent.app.local_llm import LocalLlmSettings


def test_the_llm_table_counts_first_sentences_fallbacks_and_facts() -> None:
    events = [
        {"event": "llm_reply", "outcome": "complete", "sentences": 2, "first_sentence_ms": 1000.0},
        {"event": "llm_reply", "outcome": "max_sentences", "sentences": 3, "first_sentence_ms": 1200.0},
        {"event": "llm_invented_fact"}, {"event": "llm_reply", "outcome": "invented_fact", "sentences": 0,
                                         "first_sentence_ms": 900.0},
        {"event": "llm_fallback", "reason": "invented_fact"}, {"event": "llm_facts_restored"},
        {"event": "llm_reply", "outcome": "first_sentence_budget", "sentences": 0, "first_sentence_ms": None},
        {"event": "llm_fallback", "reason": "first_sentence_budget"}, {"event": "llm_fallback", "reason": "breaker_open"},
    ]
    table = "\n".join(llm_report(events, LocalLlmSettings(threads=2)))
    assert "2 thread(s)" in table
    assert "| first complete sentence after the request | 3 | 1000 | 1180 |" in table
    assert "4 requests, 2 spoken as the LLM worded them; scripted instead: 1 breaker_open, 1 first_sentence_budget, " \
           "1 invented_fact." in table
    assert "the prompt lacks: 1;" in table and "for one they dropped: 1." in table


@pytest.mark.call
@pytest.mark.slow
def test_one_clinic_conversation_is_measured_per_kind_of_turn() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent.app.cli", "bench", "latency", "--calls", "1", "--no-sweep",
         "--set", "tts.presynthesize=false"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "responder=graph, emotion=on" in out, out
    assert "Conversations the graph ended with its goodbye: 1 of 1." in out, out  # the whole way
    rows = {m[1]: int(m[2]) for m in re.finditer(r"^\| ([^|]+?) \| (\d+) \|", out, re.M)}
    # Call 0 says its date of birth: eight voice lines, every one paired with the server's turn.
    assert rows["**first agent audio at the caller (voice-to-voice)**"] == 8, out
    kinds = {name: n for name, n in rows.items() if name.startswith(("cached", "line with", "LLM", "keypad", "voice turn"))}
    assert "voice turn not paired with a server turn" not in kinds and "keypad entry (from the caller's last key)" not in kinds
    # Fixed lines play from the cache (the default expression is warmed before ready); lines with
    # the caller's details were made while they answered.
    assert kinds["cached line (pre-synthesized)"] >= 1, out
    assert kinds["line with the caller's details (prepared while they answered)"] >= 1, out
    assert sum(kinds.values()) == 8, out
    last = out.strip().splitlines()[-1]
    p50, p95 = map(int, re.fullmatch(r"voice_to_voice_ms p50=(\d+) p95=(\d+) max_calls_p95_under_1s=0", last).groups())
    assert 300 < p50 <= p95 < 5000, last
