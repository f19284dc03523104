"""A browser call on the real path: ``bedside serve`` with the console, and ``bedside call`` placing
a WebRTC call the way the softphone page does (sign in, POST the offer, Opus over DTLS-SRTP on
loopback). The agent's greeting is heard and transcribed by the caller; the caller's real
recorded words are transcribed by the agent and said back (the echo responder); the page's
live state arrives over the data channel; the call is in the records like a SIP call."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx2
import pytest
import soundfile as sf

from emotion.audio import load_audio
from emotion.training.data import ravdess_clips
from tests.e2e.harness import run_call, start_server
from tests.e2e.test_console_in_serve import PASSWORD, add_user
from tests.processes import free_port

pytestmark = [pytest.mark.call, pytest.mark.slow]


def door_clip(shared: Path, tmp_path: Path) -> Path:
    """A real recorded caller: a neutral RAVDESS actor saying 'Kids are talking by the door'."""
    clip = next(c for c in ravdess_clips(shared) if c.emotion == "neutral" and c.statement == 1 and c.actor == 1)
    path = tmp_path / "door.wav"
    sf.write(path, load_audio(clip.path), 16000)
    return path


def test_a_browser_call_goes_through_the_same_call_runtime(tmp_path: Path, shared: Path) -> None:
    port = free_port(socket.SOCK_STREAM)
    server = start_server(tmp_path, "console.enabled=true", f"console.port={port}", "console.captions=true",
                          "turn.responder=echo")
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_for("console_ready")
        add_user(tmp_path / "records")
        result = run_call(base + "/", "--user", "qa1", "--play", str(door_clip(shared, tmp_path)), "--duration", "40",
                          env={"BEDSIDE_CONSOLE_PASSWORD": PASSWORD})
        assert result.returncode == 0, result.stderr[-2000:]
        (answered,) = result.named("answered")
        assert answered["codec"] == "opus"
        said = [e["text"].lower() for e in result.named("agent_said")]
        assert said and "clinic" in said[0], said  # the greeting, heard and transcribed by the caller
        assert any("door" in text for text in said[1:]), said  # the agent heard the caller and said it back

        (heard,) = server.wait_for("caller_said", timeout=30)
        assert "door" in heard["transcript"].lower()
        (ended,) = server.wait_for("call_ended", timeout=30)
        assert ended["turns"] >= 1

        live = [e for e in result.named("live")]
        kinds = {e["type"] for e in live}
        assert {"reply", "state", "caption"} <= kinds, kinds
        greeting = next(e for e in live if e["type"] == "reply")
        assert greeting["label"] == "greeting" and greeting["expression"]
        state = next(e for e in live if e["type"] == "state" and e["available"])
        assert -1 <= state["valence"] <= 1 and 0 <= state["arousal"] <= 1 and state["trend"]
        assert any("door" in e["text"].lower() for e in live if e["type"] == "caption")

        with httpx2.Client(base_url=base, timeout=10) as c:
            assert c.post("/login", data={"name": "qa1", "password": PASSWORD}, headers={"Origin": base}).status_code == 303
            (call,) = c.get("/api/v1/calls").json()["calls"]
            assert answered["console_call_id"] == call["id"]  # the caller is told where to review its call
            detail = c.get(f"/api/v1/calls/{call['id']}").json()
            assert detail["caller"] == "webrtc:qa1"
            assert [r["label"] for r in detail["replies"]][:2] == ["greeting", "turn-1"]
    finally:
        assert server.stop() == 0


def test_a_wrong_password_and_a_console_without_browser_calls_are_refused_clearly(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM)
    server = start_server(tmp_path, "console.enabled=true", f"console.port={port}", "webrtc.max_calls=0")
    base = f"http://127.0.0.1:{port}/"
    try:
        server.wait_for("console_ready")
        add_user(tmp_path / "records")
        wrong = run_call(base, "--user", "qa1", "--no-transcribe", env={"BEDSIDE_CONSOLE_PASSWORD": "not it"})
        assert wrong.returncode == 3
        assert wrong.named("call_failed")[0]["status"] == 401
        off = run_call(base, "--user", "qa1", "--no-transcribe", env={"BEDSIDE_CONSOLE_PASSWORD": PASSWORD})
        assert off.returncode == 3
        (failed,) = off.named("call_failed")
        assert failed["status"] == 503 and "webrtc.max_calls is 0" in failed["reason"]
    finally:
        assert server.stop() == 0


def test_an_upset_browser_caller_is_put_through_to_a_sip_operator_and_they_hear_each_other(
    tmp_path: Path, shared: Path,
) -> None:
    """The urgency flag on a browser call: the agent dials the operator over SIP and bridges the
    browser leg to it in software (pjmedia's bridge holds only SIP legs). The operator's echo
    responder says back what it heard, so words crossing both ways prove the bridge."""
    from tests.e2e.test_call_escalation import OPERATOR_GREETING, _angry_clips

    operator_dir = tmp_path / "operator"
    operator_dir.mkdir()
    operator = start_server(operator_dir, "turn.responder=echo", "emotion.service.mode='off'", "sip.accepted_users=[desk]",
                            f"turn.greeting={OPERATOR_GREETING}", "turn.reprompt_after_s=60")
    port = free_port(socket.SOCK_STREAM)
    agent = None
    try:
        agent = start_server(tmp_path, "console.enabled=true", f"console.port={port}",
                             f"sip.transfer_targets={{operator: 'sip:desk@127.0.0.1:{operator.port}'}}",
                             "call_phase.urgent_after_s=5", "call_phase.negative_valence=-0.1", "escalation.answer_timeout_s=15")
        agent.wait_for("console_ready")
        add_user(tmp_path / "records")
        # Eight angry sentences, one a turn: the flag goes up after the first few, the rest reach the operator.
        # On a loaded machine the flag came at 48 s and the bridge at 68 s: an 80-s call cut the words
        # meant for the operator, so the call may run to 120 s (it ends when the script does).
        script = [arg for clip in _angry_clips(shared, tmp_path, count=8) for arg in ("--play", str(clip))]
        result = run_call(f"http://127.0.0.1:{port}/", "--user", "qa1", *script, "--duration", "120",
                          env={"BEDSIDE_CONSOLE_PASSWORD": PASSWORD}, timeout=240)
        assert result.returncode == 0, result.stderr[-2000:]
        agent.wait_for("urgency_flag", timeout=10)
        (bridged,) = agent.wait_for("calls_bridged", timeout=10)
        assert bridged["relay"] == "software"
        (connected,) = agent.events_named("call_transferred")
        assert connected["mode"] == "bridge" and connected["urgent"] is True
        heard = " ".join(e["transcript"].lower() for e in operator.wait_for("caller_said", timeout=30))
        assert "door" in heard, heard  # browser -> operator: the operator only hears the caller once bridged
        said = [e["text"].lower() for e in result.named("agent_said")]
        assert any("you said" in text and "door" in text for text in said), said  # operator -> browser
        assert any(e["type"] == "action" and e["kind"] == "transfer" for e in result.named("live"))
    finally:
        codes = [operator.stop()]
        if agent is not None:
            codes.append(agent.stop())
        assert codes == [0] * len(codes)
