"""``bedside serve`` called by a third-party softphone: baresip (issue test b).

What is real: the server process with its real models, and baresip 1.0 (Debian) running
headless as the caller over loopback UDP: its own SIP stack, its own G.711 u-law codec and
RTP, its aufile source playing a NOIZEUS recording, and its sndfile filter recording what
it received from the agent. Nothing is mocked; the config templates live in ``baresip/``."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from string import Template

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import noizeus_transcripts
from tests.e2e.harness import Server, free_sip_port
from tests.e2e.text import wer

pytestmark = [pytest.mark.call, pytest.mark.slow]
# One call at a time here: one server process (sip.max_calls above 4 starts sibling workers).
SERVER_SETTINGS = ("sip.max_calls=4",)

TEMPLATES = Path(__file__).parent / "baresip"
# Same bound as test_call.py: the server's transcript of one sentence after a u-law call.
CALLER_WER_BOUND = 0.35
# The caller's file: silence through the agent's ~6 s greeting, the sentence, then silence
# long enough for the agent's ~5 s reply. baresip hangs up when the file ends.
LEAD_SILENCE_S = 7.0
TRAIL_SILENCE_S = 7.0
# Agent audio must be at least this loud in the softphone's recording.
AGENT_MIN_DBFS = -45.0


def _baresip_modules() -> Path:
    candidates = [os.environ.get("BARESIP_MODULES", ""), "/usr/lib/baresip/modules",
                  *glob.glob("/usr/lib/*/baresip/modules"), "/usr/local/lib/baresip/modules"]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if all((path / f"{m}.so").exists() for m in ("g711", "aufile", "aubridge", "sndfile", "account", "menu")):
            return path
    pytest.fail(f"baresip modules (g711, aufile, aubridge, sndfile, account, menu) not found in {candidates}; "
                "install baresip-core or set BARESIP_MODULES")


def _dbfs(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-9))


def _wait_call(server: Server, caller: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The server's call_id for the call from display name ``caller``, once it has ended."""
    deadline = time.monotonic() + timeout
    call_id = None
    while time.monotonic() < deadline:
        if call_id is None:
            for event in server.events_named("call_incoming"):
                if caller in str(event.get("caller", "")):
                    call_id = event["call_id"]
        if call_id is not None and any(e.get("call_id") == call_id for e in server.events_named("call_ended")):
            return call_id
        if call_id is None and proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"no ended call from {caller!r} in the server log (call_id={call_id}, "
                         f"baresip rc={proc.poll()}); log: {server.log_path}")


def test_baresip_call_is_transcribed_and_hears_the_agent(server, baresip, sox, shared, tmp_path):
    """Real: baresip dials the server, sends a NOIZEUS sentence (8 kHz s16 WAV through its own
    PCMU encoder) after the greeting, stays for the reply and hangs up when the file ends.
    The server's transcript must match the reference, and baresip's recording of the agent
    must hold the greeting and the reply at telephone level."""
    name = "sp09"
    clean = shared / "data" / "noizeus" / "clean" / f"{name}.flac"
    caller_wav = tmp_path / "caller.wav"
    subprocess.run([sox, str(clean), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(caller_wav),
                    "pad", str(LEAD_SILENCE_S), str(TRAIL_SILENCE_S)], check=True, capture_output=True)
    file_s = sf.info(caller_wav).duration
    speech_s = file_s - LEAD_SILENCE_S - TRAIL_SILENCE_S

    config_dir, record_dir = tmp_path / "baresip", tmp_path / "recorded"
    config_dir.mkdir()
    record_dir.mkdir()
    display_name = f"baresip-{uuid.uuid4().hex[:10]}"
    values = {"sip_port": free_sip_port(), "caller_wav": caller_wav, "module_path": _baresip_modules(),
              "record_dir": record_dir, "display_name": display_name}
    for template in ("config", "accounts"):
        text = Template((TEMPLATES / f"{template}.template").read_text()).substitute(values)
        (config_dir / template).write_text(text)

    log_path = tmp_path / "baresip.log"
    quit_after = int(file_s + 25)  # a ceiling: baresip hangs up by itself when its file ends
    with log_path.open("wb") as log:
        proc = subprocess.Popen([baresip, "-f", str(config_dir), "-e", f"/dial {server.uri}", "-t", str(quit_after)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        call_id = _wait_call(server, display_name, proc, timeout=quit_after + 5)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    baresip_log = log_path.read_text(errors="replace")

    def events(name: str) -> list[dict]:
        return [e for e in server.events_named(name) if e.get("call_id") == call_id]

    started = events("call_started")
    assert started and started[0]["codec"] == "PCMU", (started, baresip_log[-3000:])
    ended = events("call_ended")[-1]
    assert ended["reason"] == "remote" and ended["turns"] == 1, ended

    said = events("caller_said")
    assert len(said) == 1, (said, baresip_log[-3000:])
    reference = noizeus_transcripts(shared)[name]
    assert wer(reference, said[0]["transcript"]) <= CALLER_WER_BOUND, (reference, said[0]["transcript"])
    turn = events("turn")
    assert turn and turn[0].get("first_audio_ms") is not None, turn

    # What baresip heard: its sndfile filter wrote the decoded agent audio.
    recorded = sorted(record_dir.glob("dump-*-dec.wav"))
    assert recorded, f"baresip wrote no recording in {record_dir}:\n{baresip_log[-3000:]}"
    audio, rate = sf.read(recorded[-1], dtype="float32")
    assert rate == 8000 and len(audio) / rate > LEAD_SILENCE_S + speech_s, (rate, len(audio))
    greeting = audio[int(0.5 * rate): int(4.5 * rate)]
    reply_at = LEAD_SILENCE_S + speech_s + 1.0  # end of speech + VAD silence + some slack
    reply = audio[int(reply_at * rate): int((reply_at + 3.0) * rate)]
    assert _dbfs(greeting) > AGENT_MIN_DBFS, f"greeting at {_dbfs(greeting):.1f} dBFS"
    assert _dbfs(reply) > AGENT_MIN_DBFS, f"reply at {_dbfs(reply):.1f} dBFS"
    # Between the greeting and the reply, while the caller talks, the agent is quiet.
    quiet = audio[int((LEAD_SILENCE_S + 0.5) * rate): int((LEAD_SILENCE_S + speech_s - 0.2) * rate)]
    assert _dbfs(quiet) < -50, f"agent audible while the caller spoke ({_dbfs(quiet):.1f} dBFS)"
