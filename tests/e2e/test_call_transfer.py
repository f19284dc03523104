"""Transfers on real calls: a caller who asks for a person is put through with a blind transfer
(SIP REFER, RFC 3515). ``bedside serve`` (responder: graph) and the callers are real processes
on loopback: SIPp plays a transferee that follows the REFER and reports the outcome in a NOTIFY
(it does not dial the target itself), and the pjsua2 QA caller declines REFERs (603)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.harness import free_sip_port, run_call, start_server
from tests.e2e.test_sipp import run_sipp
from tts.config import TtsConfig
from tts.synthesizer import PiperSynthesizer

pytestmark = [pytest.mark.call, pytest.mark.slow]

ASK = "Can I talk to a real person please?"
DESK = "sip:frontdesk@127.0.0.1:5999"


def _caller_wav(workdir: Path, sox: str) -> None:
    """The caller's line, synthesized (piper) and encoded as the 8 kHz mu-law WAV SIPp streams."""
    import soundfile as sf

    from telephony.audio import pcm16_to_float

    synth = PiperSynthesizer(TtsConfig())
    pcm = asyncio.run(_synthesize(synth, ASK))
    raw = workdir / "ask.wav"
    sf.write(raw, pcm16_to_float(pcm), 16000)
    subprocess.run([sox, str(raw), "-r", "8000", "-c", "1", "-e", "u-law", str(workdir / "caller.wav")], check=True)


async def _synthesize(synth: PiperSynthesizer, text: str) -> bytes:
    return b"".join([chunk async for chunk in synth.stream(text)])


@pytest.mark.parametrize(("outcome", "transferred"), [("200 OK", True), ("486 Busy Here", False)])
def test_asking_for_a_person_transfers_the_call(tmp_path: Path, sipp: str, sox: str, outcome: str, transferred: bool):
    _caller_wav(tmp_path, sox)
    # SIPp streams the caller's line once and then no RTP at all: the RTP timeout is lengthened so
    # the apology and call-back line after a refused transfer is not cut off by it.
    server = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=4", "escalation.mode=refer",
                          "sip.rtp_timeout_s=45", f"sip.transfer_targets={{operator: '{DESK}'}}")
    try:
        run = run_sipp(sipp, server, "uac_transferred.xml", tmp_path, "-key", "caller", f"sipp-{uuid.uuid4().hex[:8]}",
                       "-key", "outcome", outcome, timeout=90)
        assert run.returncode == 0, run.explain()
        assert f"Refer-To: <{DESK}>" in run.messages or f"Refer-To: {DESK}" in run.messages, run.messages[-3000:]
        (ended,) = server.wait_for("call_ended", timeout=30)
        actions = server.events_named("agent_action")
        action = actions[0]
        assert action["action"] == "transfer" and action["to"] == "operator" and action["node"] == "human"
        if transferred:
            (done,) = server.events_named("call_transferred")
            assert done["status"] == 200 and ended["reason"] == "transferred: operator"
        else:
            (failed,) = server.events_named("transfer_failed")
            assert failed["status"] == 486 and ended["reason"] == "transfer failed (486): operator"
            (callback,) = actions[1:]  # nobody took the call: a call-back request instead
            assert callback["action"] == "callback" and callback["team"] == "operator"
        if transferred:
            assert len(actions) == 1
    finally:
        assert server.stop() == 0


def test_a_caller_that_declines_the_refer_hears_an_apology(tmp_path: Path) -> None:
    server = start_server(tmp_path, "turn.responder=graph", "sip.max_calls=4", "escalation.mode=refer",
                          f"sip.transfer_targets={{operator: 'sip:frontdesk@127.0.0.1:{free_sip_port()}'}}")
    try:
        result = run_call(server.uri, "--say", ASK, "--duration", "60")
        assert result.returncode == 0, result.stderr[-2000:]
        (failed,) = server.wait_for("transfer_failed", timeout=40)
        assert failed["to"] == "operator" and failed["status"] == 603
        (ended,) = server.wait_for("call_ended", timeout=30)
        assert ended["reason"] == "transfer failed (603): operator"
        said = " ".join(str(e.get("text", "")) for e in result.named("agent_said")).lower()
        assert "put you through" in said and "call you back" in said, said
        callback = next(e for e in server.events_named("agent_action") if e["action"] == "callback")
        assert callback["team"] == "operator" and callback["priority"] == "routine"
    finally:
        assert server.stop() == 0
