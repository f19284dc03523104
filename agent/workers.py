"""Sibling SIP worker processes, for more concurrent calls than one pjsua2 process holds.

The pjsua2-python wheel is compiled with PJSUA_MAX_CALLS=4, so one process holds at most
four calls. ``bedside serve`` therefore runs ``ceil(max_calls / calls_per_process)``
processes: itself (the front, on the public SIP port) and workers on the ports after it.
When the front is full it answers a new INVITE with ``302 Moved Temporarily`` to the least
loaded worker with room (486 when none has). Workers report their load on stdout as JSON
lines. Trunks that refuse to follow 3xx need a SIP proxy (e.g. Kamailio's dispatcher) in
front instead; see docs/deployment.md."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from agent.config import BedsideConfig
from agent.logs import get_logger
from emotion.config import ServiceMode


def process_count(config: BedsideConfig) -> int:
    """Processes needed for ``max_calls``; a front with workers keeps one slot for 302s."""
    per = config.sip.calls_per_process
    if config.sip.max_calls <= per:
        return 1
    return 1 + math.ceil((config.sip.max_calls - (per - 1)) / per)


def worker_config(config: BedsideConfig, index: int, count: int, emotion_url: str | None = None) -> BedsideConfig:
    """The config of process ``index`` of ``count`` (0 is the front). Workers reach the front's
    in-process emotion service at ``emotion_url`` instead of loading the models again."""
    sip = config.sip
    port = sip.port + index if sip.port else 0
    share = max(2, sip.rtp_port_range // count)
    rtp_port = sip.rtp_port + index * share if sip.rtp_port else 0
    updates: dict[str, object] = {"port": port, "rtp_port": rtp_port, "rtp_port_range": share}
    if index > 0:  # only the front registers with a trunk/registrar
        updates["registration"] = sip.registration.model_copy(update={"registrar": None})
    sections: dict[str, object] = {"sip": sip.model_copy(update=updates)}
    service = config.emotion.service
    if index > 0 and service.mode is ServiceMode.IN_PROCESS:
        remote = {"mode": ServiceMode.REMOTE if emotion_url else ServiceMode.OFF, "url": emotion_url}
        sections["emotion"] = config.emotion.model_copy(update={"service": service.model_copy(update=remote)})
    return config.model_copy(update=sections)


def config_json(config: BedsideConfig) -> str:
    """The config as JSON for a worker, secrets included (pydantic masks them; the file is 0600)."""
    data = config.model_dump(mode="json")
    token = config.emotion.service.token
    data["emotion"]["service"]["token"] = token.get_secret_value() if token else None
    return json.dumps(data)


@dataclass
class _Worker:
    index: int
    proc: asyncio.subprocess.Process
    port: int = 0
    active: int = 0
    ready: bool = False


class WorkerPool:
    def __init__(self, config: BedsideConfig, count: int) -> None:
        self.config = config
        self.count = count
        self.log = get_logger("workers")
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()  # pick() runs on the pjsip thread
        self._readers: list[asyncio.Task[None]] = []
        self._dir = Path(tempfile.mkdtemp(prefix="bedside-workers-"))

    async def spawn(self, emotion_url: str | None = None) -> None:
        """Start the worker processes (they load their models in parallel with the front)."""
        for index in range(1, self.count):
            cfg = worker_config(self.config, index, self.count, emotion_url)
            path = self._dir / f"worker-{index}.json"
            path.touch(0o600)
            path.write_text(config_json(cfg))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent.cli", "serve", "--worker", str(index), "--config", str(path),
                stdout=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.PIPE,  # EOF on it tells the worker the front is gone
                # The resolved config is in the file; BEDSIDE_* variables must not re-override it.
                env={k: v for k, v in os.environ.items() if not k.startswith("BEDSIDE_") or k == "BEDSIDE_SHARED"},
            )
            worker = _Worker(index, proc)
            self._workers.append(worker)
            self._readers.append(asyncio.create_task(self._read_status(worker)))

    async def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not all(w.ready for w in self._workers):
            dead = [w for w in self._workers if w.proc.returncode is not None]
            if dead:
                raise RuntimeError(f"SIP worker {dead[0].index} exited with {dead[0].proc.returncode}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("SIP workers did not become ready in time")
            await asyncio.sleep(0.1)
        self.log.info("workers_ready", ports=[w.port for w in self._workers])

    def pick(self) -> str | None:
        """A worker URI with room, least loaded first; counts the call against it at once so
        a burst of INVITEs spreads out before the workers report back."""
        with self._lock:
            room = [w for w in self._workers if w.ready and w.proc.returncode is None
                    and w.active < self.config.sip.calls_per_process]
            if not room:
                return None
            best = min(room, key=lambda w: w.active)
            best.active += 1
            host = self.config.sip.public_address or self.config.sip.host
            return f"sip:bedside@{host}:{best.port}"

    async def _read_status(self, worker: _Worker) -> None:
        assert worker.proc.stdout is not None
        while True:
            line = await worker.proc.stdout.readline()
            if not line:
                return
            try:
                status = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._lock:
                worker.port = int(status.get("port", worker.port))
                worker.active = int(status.get("active", worker.active))
                worker.ready = worker.ready or status.get("state") == "ready"

    async def drain_and_stop(self, timeout: float) -> None:
        for worker in self._workers:
            if worker.proc.returncode is None:
                worker.proc.terminate()  # SIGTERM: the worker drains its own calls
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.proc.wait(), timeout + 10)
            except TimeoutError:
                worker.proc.kill()
                await worker.proc.wait()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        for path in self._dir.glob("*.json"):
            path.unlink()
        self._dir.rmdir()


def print_status(state: str, port: int, active: int) -> None:
    """A worker's load report to the front (stdout is a pipe to it)."""
    sys.stdout.write(json.dumps({"state": state, "port": port, "active": active}) + "\n")
    sys.stdout.flush()


async def exit_when_front_dies(stop: asyncio.Event) -> None:
    """In a worker: stdin is a pipe from the front, and EOF means the front died (even by
    SIGKILL), so drain and exit rather than linger as an orphan holding SIP ports."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(1024):
        pass
    stop.set()
