"""Runs real processes for end-to-end call tests: ``bedside serve`` and ``bedside call``.

Both ends are separate processes because pjsua2 allows one SIP endpoint per process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BEDSIDE = [sys.executable, "-m", "agent.cli"]


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def uri(self) -> str:
        return f"sip:bedside@127.0.0.1:{self.port}"

    def events(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def events_named(self, name: str) -> list[dict]:
        return [e for e in self.events() if e.get("event") == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events_named(name)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"server did not log {count} x {name!r} in {timeout}s; log: {self.log_path}")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


def start_server(tmp_path: Path, *settings: str, port: int | None = None, timeout: float = 120.0) -> Server:
    port = port or free_sip_port()
    log_path = tmp_path / f"server-{port}.log"
    cmd = [*BEDSIDE, "serve", "--sip-port", str(port), "--set", "logging.log_transcripts=true",
           "--set", f"sip.rtp_port={free_port()}", "--set", "sip.rtp_port_range=200",
           "--set", "emotion.service.port=0"]  # the in-process emotion service on any free port
    for item in settings:
        cmd += ["--set", item]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=_env())
    server = Server(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.events_named("ready"):
            return server
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"server not ready in {timeout}s:\n{log_path.read_text()[-3000:]}")


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


def run_call(uri: str, *args: str, timeout: float = 180.0) -> CallResult:
    cmd = [*BEDSIDE, "call", uri, "--json", *args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=timeout, env=_env())
    events = []
    for line in done.stdout.decode(errors="replace").splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return CallResult(done.returncode, events, done.stderr.decode(errors="replace"))


def start_call(uri: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*BEDSIDE, "call", uri, "--json", *args], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
