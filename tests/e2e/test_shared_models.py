"""A node's SIP worker runs its calls on the front's speech models (``node.shared_models``,
agent/services/model_host.py): real Whisper, piper and MiniLM loaded once, in the front; the
worker's caller is greeted from the shared phrase file, heard by the front's Whisper and answered
by its piper voice, and the worker process holds none of the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.app.child_process import child_pids
from tests.e2e.harness import start_call, start_server
from tests.processes import rss_kb

pytestmark = [pytest.mark.call, pytest.mark.slow]

# A worker with its own Whisper, piper voice (its arena grown by synthesis) and MiniLM held
# about 850 MB (docs/benchmarks.md); with the front's it is its imports, pjsua2 and the VAD (~210 MB).
WORKER_RSS_LIMIT_KB = 400_000


def test_a_workers_call_is_heard_and_answered_by_the_fronts_models(tmp_path, shared) -> None:
    # calls_per_process 2: the front takes one call (one slot kept for refusals), the next goes to worker 1.
    # The echo responder says the transcript back: the worker's reply is synthesized by the front's voice.
    server = start_server(tmp_path, "sip.max_calls=3", "sip.calls_per_process=2", "emotion.service.mode=off",
                          "turn.responder=echo")
    sentence = shared / "data" / "noizeus" / "clean" / "sp07.flac"
    callers = []
    try:
        ready = server.wait_for("worker_ready", timeout=60)[0]
        assert ready["speech_models"] == "front's"
        front_ready = server.events_named("ready")[0]
        assert front_ready["speech_models"] == "own, shared"
        # Loaded once on the node: the worker logged no model loading of its own.
        assert len(server.events_named("stt_started")) == 1 and "worker" not in server.events_named("stt_started")[0]
        assert len(server.events_named("tts voice loaded")) == 1
        worker_pid = child_pids(server.proc.pid)[0]
        assert rss_kb(worker_pid) < WORKER_RSS_LIMIT_KB, rss_kb(worker_pid)

        callers.append(start_call(server.uri, "--play", str(sentence), "--no-transcribe", "--duration", "12"))
        server.wait_for("call_started", timeout=20)
        callers.append(start_call(server.uri, "--play", str(sentence), "--no-transcribe", "--duration", "12"))
        started = server.wait_for("call_started", count=2, timeout=20)
        assert [e["decision"] for e in server.events_named("call_incoming")].count(302) == 1  # the second went to the worker
        (on_worker,) = [e["call_id"] for e in started if e.get("worker") == 1]  # a worker's lines say which
        # The worker's caller was heard by the front's Whisper (the decode is logged by the front) ...
        done = server.wait_for("stt_done", count=2, timeout=40)
        heard = [e for e in done if e.get("call_id") == on_worker]
        assert heard and all("worker" not in e for e in heard) and not heard[-1]["empty"], done
        # ... and its echo was synthesized by the front's piper and played on the worker's call.
        server.wait_for("turn", count=2, timeout=40)
        turns = [e for e in server.events_named("turn") if e.get("call_id") == on_worker and e.get("worker") == 1]
        assert turns and turns[0]["reply"] == "synthesized" and turns[0]["first_audio_ms"] > 0, turns
        for caller in callers:
            assert caller.wait(40) == 0
        assert rss_kb(worker_pid) < WORKER_RSS_LIMIT_KB  # after a call with speech both ways
        # It never rendered nor decoded audio itself.
        maps = Path(f"/proc/{worker_pid}/maps").read_text()
        assert "/scipy" not in maps and "/av.libs" not in maps  # native libraries: scipy.signal, and PyAV (faster-whisper)
        assert not server.events_named("model_host_lost") and not server.events_named("tts_remote_failed")
    finally:
        for caller in callers:
            if caller.poll() is None:
                caller.kill()
        assert server.stop() == 0, server.log_path.read_text()[-3000:]


def test_without_sharing_each_worker_loads_its_own_and_still_takes_calls(tmp_path, shared) -> None:
    server = start_server(tmp_path, "sip.max_calls=3", "sip.calls_per_process=2", "emotion.service.mode=off",
                          "turn.responder=echo", "node.shared_models=false")
    sentence = shared / "data" / "noizeus" / "clean" / "sp07.flac"
    callers = []
    try:
        assert server.wait_for("worker_ready", timeout=60)[0]["speech_models"] == "own"
        assert server.events_named("ready")[0]["speech_models"] == "own"
        assert sorted(e.get("worker", 0) for e in server.events_named("stt_started")) == [0, 1]  # one Whisper each
        for _ in range(2):
            callers.append(start_call(server.uri, "--play", str(sentence), "--no-transcribe", "--duration", "12"))
            server.wait_for("call_started", count=len(callers), timeout=20)
        turns = server.wait_for("turn", count=2, timeout=40)
        assert {e.get("worker", 0) for e in turns} == {0, 1}
        heard = [e for e in server.events_named("stt_done") if e.get("worker") == 1]
        assert heard and not heard[-1]["empty"]  # the worker decoded its caller itself
        for caller in callers:
            assert caller.wait(40) == 0
    finally:
        for caller in callers:
            if caller.poll() is None:
                caller.kill()
        assert server.stop() == 0, server.log_path.read_text()[-3000:]
