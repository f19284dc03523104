"""Sibling SIP worker processes, for more concurrent calls than one pjsua2 process holds.

The pjsua2-python wheel is compiled with PJSUA_MAX_CALLS=4, so one process holds at most
four calls. ``bedside serve`` therefore runs the front (on the public SIP port, holding up to
three calls: one pjsua slot stays free for answering refusals) and enough workers on the ports
after it for ``sip.max_calls``. When the front is full it answers a new INVITE with ``302`` to
the least loaded worker with room, with a signed single-use ticket in the Contact URI (workers
refuse INVITEs without one). Admission is exact: the front counts its own calls, what each
worker reports (its real dialogs) and the redirects not yet arrived, which it gives back after
``sip.redirect_ttl_s``; beyond ``sip.max_calls`` it answers 503 with Retry-After.

Workers get their config, the ticket key and where the front's shared models are (its model
host's socket and token, agent/services/model_host.py) as one JSON line on stdin (never a file:
it holds every secret), report their load on stdout as JSON lines, and exit when stdin reaches EOF (the
front died). A worker that dies is logged and restarted on its own port, with backoff.
Trunks that refuse to follow 3xx need a SIP proxy (e.g. Kamailio's dispatcher) in front
instead; see docs/deployment.md."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.app.config import BedsideConfig, load_config
from agent.app.logs import get_logger
from agent.services.model_host import ModelHostAddress
from emotion.config import ServiceMode
from telephony.redirect_ticket import RedirectTickets

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
# BEDSIDE_* variables a worker still reads itself: test data, and the records keys (a secret the
# handoff's config does not carry).
_PASSED_ENV = frozenset({"BEDSIDE_SHARED", "BEDSIDE_RECORDS_KEYS"})  # after a worker dies; reset once it has run a minute


def process_count(config: BedsideConfig) -> int:
    """Processes needed for ``max_calls``; a front with workers keeps one slot for its refusals."""
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
    """The config as JSON for a worker, secrets included (pydantic masks them)."""
    data = config.model_dump(mode="json")
    token = config.emotion.service.token
    data["emotion"]["service"]["token"] = token.get_secret_value() if token else None
    for section, key in (("registration", "password"), ("inbound_auth", "password")):
        secret = getattr(config.sip, section).password
        data["sip"][section][key] = secret.get_secret_value() if secret else None
    return json.dumps(data)


@dataclass(frozen=True, slots=True)
class WorkerHandoff:
    """What the front hands a worker on stdin: its config, the key of the front's redirect
    tickets, and where the node's shared models are (None: the worker loads its own)."""

    config: BedsideConfig
    ticket_key: bytes
    model_host: ModelHostAddress | None = None

    def line(self) -> bytes:
        """The one line a worker reads on stdin."""
        data: dict[str, object] = {"config": json.loads(config_json(self.config)), "ticket_key": self.ticket_key.hex()}
        if self.model_host is not None:
            data["model_host"] = self.model_host.fields()
        return (json.dumps(data) + "\n").encode()


def read_worker_handoff() -> WorkerHandoff:
    """In a worker: the front's handoff, from the first line of stdin."""
    line = sys.stdin.buffer.readline()
    if not line:
        raise SystemExit("worker: no configuration on stdin (workers are started by `bedside serve`)")
    data = json.loads(line)
    host = data.get("model_host")
    return WorkerHandoff(load_config(overrides=data["config"], environ={}), bytes.fromhex(data["ticket_key"]),
                         ModelHostAddress.from_fields(host) if host else None)


@dataclass
class _Worker:
    index: int
    proc: asyncio.subprocess.Process | None = None
    port: int = 0
    active: int = 0  # calls the worker reports holding (its real dialogs)
    ready: bool = False
    started_at: float = 0.0
    restarts: int = 0
    promised: deque[float] = field(default_factory=deque)  # expiry of each redirect not yet arrived

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def load(self, now: float) -> int:
        while self.promised and self.promised[0] <= now:
            self.promised.popleft()  # redirected, never arrived: the slot is free again
        return self.active + len(self.promised)


class WorkerPool:
    def __init__(self, config: BedsideConfig, count: int, tickets: RedirectTickets, ticket_key: bytes,
                 on_exit: Callable[[int], None] | None = None) -> None:
        """``on_exit``: told a worker's pid when it exits (its live metrics are dropped)."""
        self.config = config
        self.on_exit = on_exit
        self.count = count
        self.tickets = tickets
        self._ticket_key = ticket_key
        self.log = get_logger("workers")
        self._workers: list[_Worker] = [_Worker(i) for i in range(1, count)]
        self._lock = threading.Lock()  # pick() and load() run on the pjsip thread
        self._tasks: set[asyncio.Task[None]] = set()
        self._emotion_url: str | None = None
        self._model_host: ModelHostAddress | None = None
        self._stopping = False

    async def spawn(self, emotion_url: str | None = None, model_host: ModelHostAddress | None = None) -> None:
        """Start the worker processes and watch over them. ``model_host``: the front's shared
        models (agent/services/model_host.py); without it each worker loads its own."""
        self._emotion_url = emotion_url
        self._model_host = model_host
        for worker in self._workers:
            await self._start(worker)
            self._track(self._supervise(worker))

    async def _start(self, worker: _Worker) -> None:
        cfg = worker_config(self.config, worker.index, self.count, self._emotion_url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.app.cli", "serve", "--worker", str(worker.index),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE,  # the config, then EOF tells the worker the front is gone
            # The resolved config is in the handoff; BEDSIDE_* variables must not re-override it.
            env={k: v for k, v in os.environ.items() if not k.startswith("BEDSIDE_") or k in _PASSED_ENV},
        )
        assert proc.stdin is not None
        proc.stdin.write(WorkerHandoff(cfg, self._ticket_key, self._model_host).line())
        await proc.stdin.drain()
        with self._lock:
            worker.proc, worker.ready, worker.active = proc, False, 0
            worker.promised.clear()
            worker.started_at = time.monotonic()
        self._track(self._read_status(worker, proc))

    def _track(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _supervise(self, worker: _Worker) -> None:
        """Restart a worker that exits while the front is not stopping; its calls are lost with
        it, nobody else's."""
        while True:
            assert worker.proc is not None
            code = await worker.proc.wait()
            if self.on_exit is not None:
                self.on_exit(worker.proc.pid)
            if self._stopping:
                return
            with self._lock:
                worker.ready, lost = False, worker.active
                worker.active = 0
                worker.promised.clear()
            ran_s = time.monotonic() - worker.started_at
            if ran_s > 60:
                worker.restarts = 0
            delay = RESTART_BACKOFF_S[min(worker.restarts, len(RESTART_BACKOFF_S) - 1)]
            self.log.error("worker_died", index=worker.index, port=worker.port, returncode=code, calls_lost=lost,
                           ran_s=round(ran_s, 1), restart_in_s=delay)
            worker.restarts += 1
            await asyncio.sleep(delay)
            if self._stopping:
                return
            await self._start(worker)
            self.log.info("worker_restarted", index=worker.index, restarts=worker.restarts)

    async def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not all(w.ready for w in self._workers):
            dead = [w for w in self._workers if w.proc is not None and w.proc.returncode is not None]
            if dead:
                raise RuntimeError(f"SIP worker {dead[0].index} exited with {dead[0].proc.returncode}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("SIP workers did not become ready in time")
            await asyncio.sleep(0.1)
        self.log.info("workers_ready", ports=[w.port for w in self._workers])

    def pick(self) -> str | None:
        """A ticketed worker URI with room, least loaded first; the slot is promised at once (so
        a burst of INVITEs spreads out) and given back if the caller has not arrived in time."""
        now = time.monotonic()
        with self._lock:
            per = self.config.sip.calls_per_process
            room = [w for w in self._workers if w.ready and w.alive and w.load(now) < per]
            if not room:
                return None
            best = min(room, key=lambda w: w.load(now))
            best.promised.append(now + self.config.sip.redirect_ttl_s)
            host = self.config.sip.public_address or self.config.sip.host
            return f"sip:bedside@{host}:{best.port}{self.tickets.uri_param(best.port)}"

    def load(self) -> int:
        """Calls the workers hold or have been promised."""
        now = time.monotonic()
        with self._lock:
            return sum(w.load(now) for w in self._workers if w.alive)

    def snapshot(self) -> list[dict[str, int | bool]]:
        now = time.monotonic()
        with self._lock:
            return [{"index": w.index, "port": w.port, "alive": w.alive, "ready": w.ready, "active": w.active,
                     "promised": w.load(now) - w.active, "restarts": w.restarts} for w in self._workers]

    async def _read_status(self, worker: _Worker, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                return
            try:
                status = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._lock:
                if worker.proc is not proc:
                    return
                worker.port = int(status.get("port", worker.port))
                active = int(status.get("active", worker.active))
                for _ in range(max(0, active - worker.active)):  # a redirected caller arrived
                    if worker.promised:
                        worker.promised.popleft()
                worker.active = active
                worker.ready = worker.ready or status.get("state") == "ready"

    async def drain_and_stop(self, timeout: float) -> None:
        self._stopping = True
        procs = [w.proc for w in self._workers if w.proc is not None]
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()  # SIGTERM: the worker drains its own calls
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout + 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


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
