"""``bedside bench latency`` on the product's default path, for real: one clinic conversation over
loopback SIP against ``bedside serve`` (graph responder, emotion in-process), read back from the
bench's own output. Pre-synthesis of the other expressions is off, so the bench need not wait for
it (the default expression's lines are warmed before the server is ready either way)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.call, pytest.mark.slow]


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
