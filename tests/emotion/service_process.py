"""A real ``bedside emotion serve`` process for the service and client tests, and audio helpers."""

from __future__ import annotations

import io
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

from tests.processes import REPO, LoggedProcess, free_port

TOKEN = "test-token-0123"


def free_tcp_port() -> int:
    return free_port(socket.SOCK_STREAM)


@dataclass
class ServiceProcess(LoggedProcess):
    port: int = 0
    stop_signal = signal.SIGINT

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v0/stream/models"

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


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
    service = ServiceProcess(proc, log_path, port)
    service.wait_ready(timeout, "emotion service")
    return service


def wav(x: np.ndarray, rate: int = 16000, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype="PCM_16" if fmt == "WAV" else None)
    return buf.getvalue()
