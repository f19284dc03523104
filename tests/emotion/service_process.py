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
    cmd = [sys.executable, "-m", "agent.app.cli", "emotion", "serve", "--port", str(port),
           # never a calibration the repo's var/ may hold; a test that wants one sets its own
           "--set", f"emotion.service.calibration_file={tmp_path / 'emotion-calibration.json'}"]
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


def silent_flac(seconds: float, channels: int = 8, rate: int = 48_000) -> bytes:
    """A FLAC of digital silence, written in blocks: 1,000 s of 8 channels at 48 kHz compresses to
    ~400 KB yet decodes to 1.5 GB of float32 (the decompression bomb the service must refuse)."""
    buf = io.BytesIO()
    block = np.zeros((rate * 10, channels), np.int16)
    with sf.SoundFile(buf, "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as f:
        left = int(seconds * rate)
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)
    return buf.getvalue()


def flac_without_length(x: np.ndarray, rate: int = 16000) -> bytes:
    """A FLAC whose STREAMINFO says "length unknown" (total samples 0), as one streamed to a pipe."""
    data = bytearray(wav(x, rate, "FLAC"))
    assert data[:4] == b"fLaC"
    info = 8  # "fLaC" + the 4-byte metadata block header; total samples: 36 bits from byte 13, low nibble
    data[info + 13] &= 0xF0
    data[info + 14 : info + 18] = bytes(4)
    return bytes(data)
