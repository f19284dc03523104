"""Benchmarks start Bedside itself as a child process, wait until it logs ``ready``, and read its
JSON log."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class ChildNotReady(RuntimeError):
    """The child exited or did not log ``ready`` in time; the message ends with its log tail."""


def child_pids(pid: int) -> list[int]:
    """The process's direct children, started from any of its threads (a node's SIP workers)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended meanwhile
    return out


def read_events(log_path: Path) -> list[dict[str, object]]:
    """The child's JSON log lines so far (a line still being written, or not JSON, is skipped)."""
    events = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_until_ready(
    cmd: Sequence[str], log_path: Path, timeout_s: float = 120.0, env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """Start ``cmd`` with stdout and stderr to ``log_path``; return once its JSON log says ``ready``."""
    with log_path.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=out, stderr=out, env=env)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if b'"event": "ready"' in log_path.read_bytes():
            return proc
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.2)
    if proc.returncode is None:
        proc.kill()
    raise ChildNotReady(f"{' '.join(cmd[2:5])} did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
