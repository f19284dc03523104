"""Runs real processes for end-to-end call tests: ``bedside serve`` and ``bedside call``.

Both ends are separate processes because pjsua2 allows one SIP endpoint per process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.processes import REPO, LoggedProcess, free_port

BEDSIDE = [sys.executable, "-m", "agent.app.cli"]


def free_sip_port() -> int:
    """A port free for both UDP and TCP (the server listens on both)."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


@dataclass
class Server(LoggedProcess):
    port: int = 0

    @property
    def uri(self) -> str:
        return f"sip:bedside@127.0.0.1:{self.port}"


def start_server(tmp_path: Path, *settings: str, port: int | None = None, timeout: float = 120.0) -> Server:
    port = port or free_sip_port()
    log_path = tmp_path / f"server-{port}.log"
    cmd = [*BEDSIDE, "serve", "--sip-port", str(port), "--set", "logging.log_transcripts=true",
           "--set", f"sip.rtp_port={free_port()}", "--set", "sip.rtp_port_range=200",
           "--set", "emotion.service.port=0",  # the in-process emotion service on any free port
           # The node's HTTP port (/health, /metrics; the console when enabled) on a free port, never
           # the default 8080 another test's server (or a developer's) may hold; tests may set their own.
           "--set", f"console.port={free_port(socket.SOCK_STREAM)}",
           "--set", "turn.responder=scripted",  # fixed lines the call tests check; graph tests set graph
           # Background pre-synthesis of every expression would compete for the two cores with the
           # test's own caller; tests/e2e/test_call_delivery.py checks it with it on.
           "--set", "tts.presynthesize=false",
           "--set", f"records.data_dir={tmp_path / 'records'}",  # never the repo's var/
           "--set", f"emotion.service.calibration_file={tmp_path / 'emotion-calibration.json'}"]  # nor its calibration
    for item in settings:
        cmd += ["--set", item]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=_env())
    server = Server(proc, log_path, port)
    server.wait_ready(timeout, "server")
    return server


@dataclass
class CallResult:
    returncode: int
    events: list[dict]
    stderr: str

    @property
    def summary(self) -> dict:
        found = [e for e in self.events if e.get("event") == "summary"]
        assert found, f"no summary from bedside call (rc={self.returncode}):\n{self.stderr[-3000:]}"
        return found[-1]

    def named(self, name: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == name]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_call(uri: str, *args: str, timeout: float = 180.0, env: dict[str, str] | None = None) -> CallResult:
    """``bedside call URI --json ARGS``; ``env``: more environment (a browser call's password)."""
    cmd = [*BEDSIDE, "call", uri, "--json", *args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=timeout, env={**_env(), **(env or {})})
    events = []
    for line in done.stdout.decode(errors="replace").splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return CallResult(done.returncode, events, done.stderr.decode(errors="replace"))


def start_call(uri: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*BEDSIDE, "call", uri, "--json", *args], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
