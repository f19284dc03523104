"""Real child processes for tests: start one with its JSON log in a file, then read and wait
on that log. The e2e call server and the emotion service tests both build on this."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from agent.app.child_process import read_events

REPO = Path(__file__).resolve().parents[1]


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LoggedProcess:
    """A child process whose stdout+stderr (structlog JSON lines) go to ``log_path``."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    stop_signal = signal.SIGTERM

    def events(self) -> list[dict]:
        return read_events(self.log_path)

    def events_named(self, name: str) -> list[dict]:
        return [e for e in self.events() if e.get("event") == name]

    def wait_for(self, name: str, count: int = 1, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events_named(name)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{self.log_path.name}: no {count} x {name!r} in {timeout}s; log: {self.log_path}")

    def wait_ready(self, timeout: float, what: str) -> None:
        """Waits for the ``ready`` event; a process that exits or hangs fails with its log tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.events_named("ready"):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"{what} exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"{what} not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self, timeout: float = 30.0) -> int:
        """Asks the process to stop; kills it (and fails) if it does not within ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


def rss_kb(pid: int) -> int:
    """A process's resident memory (VmRSS) in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
