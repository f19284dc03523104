"""A real ``bedside emotion serve`` process for the service and client tests, and audio helpers."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v0/stream/models"

    def events(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_service(tmp_path: Path, *settings: str, port: int | None = None, token: str | None = TOKEN, timeout: float = 90.0) -> ServiceProcess:
    port = port or free_tcp_port()
    log_path = tmp_path / f"emotion-{port}-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "agent.cli", "emotion", "serve", "--port", str(port)]
    for item in settings:
        cmd += ["--set", item]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDSIDE_") or k == "BEDSIDE_SHARED"}
    env["PYTHONUNBUFFERED"] = "1"
    if token:
        env["BEDSIDE_EMOTION__SERVICE__TOKEN"] = token
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    service = ServiceProcess(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e.get("event") == "ready" for e in service.events()):
            return service
        if proc.poll() is not None:
            raise AssertionError(f"emotion service exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    service.stop()
    raise AssertionError(f"emotion service not ready in {timeout}s:\n{log_path.read_text()[-3000:]}")


def wav(x: np.ndarray, rate: int = 16000, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype="PCM_16" if fmt == "WAV" else None)
    return buf.getvalue()
