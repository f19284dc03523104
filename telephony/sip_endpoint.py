"""pjsua2's Endpoint, owned by one dedicated thread.

pjsua2 is not asyncio-aware and dislikes being called from threads it does not know, so
every pjsua2 call happens on the "pjsip" thread: it polls ``libHandleEvents`` and runs
commands submitted from asyncio (``await endpoint.run(fn)``). Media callbacks arrive on
pjmedia's clock thread and only copy bytes. pjsua2 aborts in ``libDestroy`` if Python
still holds Call or port objects, so ``stop()`` drops them all and collects garbage first."""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import gc
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pjsua2 as pj
import structlog

from telephony.config import SipConfig, Transport
from telephony.sip_guard import GuardPolicy, InviteGate, SipGuard, install_guard

T = TypeVar("T")

_PJ_TRANSPORT = {Transport.UDP: pj.PJSIP_TRANSPORT_UDP, Transport.TCP: pj.PJSIP_TRANSPORT_TCP}
_POLL_MS = 5


class SipStartError(RuntimeError):
    pass


class _PortTaken(SipStartError):
    """The automatically chosen port number was free for one protocol but not the next."""


AUTO_PORT_TRIES = 5  # sip.port 0: ports tried before giving up
_PJ_EADDRINUSE = 120000 + errno.EADDRINUSE  # pjlib's status for the OS error (PJ_STATUS_FROM_OS)


_SIP_USER = re.compile(r"(sips?:|tel:)[^@\s>;]+@", re.IGNORECASE)
_QUOTED = re.compile(r'"[^"]*"')
_REFUSAL = re.compile(r"Request verification failed: (?P<reason>.+?) \[status=\d*(?P<code>\d{3})\]")


def scrub_pjsip_message(message: str) -> str:
    """pjsip's error lines can quote whole SIP packets (From: "Jane Doe" <sip:+1555...@>).
    Keep the first line only, without user parts, display names or control bytes."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = _SIP_USER.sub(lambda m: f"{m.group(1)}<redacted>@", first)
    first = _QUOTED.sub('"<redacted>"', first)
    first = "".join(ch if ch.isprintable() else "?" for ch in first)
    return first[:300]


class _PjLogWriter(pj.LogWriter):
    """pjsip's own log lines, into structlog. Below level 4 they are scrubbed of SIP packet
    dumps (PHI); ``sip.pjsip_log_level`` >= 4 is an explicit opt-in to full SIP traces."""

    def __init__(self, verbatim: bool, on_refusal: Callable[[int, str], None]) -> None:
        super().__init__()
        self._log = structlog.get_logger(component="pjsip")
        self._verbatim = verbatim
        self._on_refusal = on_refusal

    def write(self, entry: pj.LogEntry) -> None:
        raw = entry.msg.rstrip()
        refused = _REFUSAL.search(raw)
        if refused:
            # pjsua refuses some INVITEs itself (no common codec: 488, bad SDP: 400) before
            # any Call exists; this line is the only trace of them, so make it an event.
            self._on_refusal(int(refused.group("code")), refused.group("reason"))
        msg = raw if self._verbatim else scrub_pjsip_message(raw)
        if entry.level <= 1:
            self._log.error("pjsip", msg=msg)
        elif entry.level == 2:
            self._log.warning("pjsip", msg=msg)
        else:
            self._log.debug("pjsip", msg=msg)


class SipEndpoint:
    def __init__(self, config: SipConfig, name: str = "bedside", guard: bool = False,
                 invite_gate: InviteGate | None = None) -> None:
        """``guard``: install the SIP guard (telephony/sip_guard.py) on a listening endpoint;
        ``invite_gate`` lets it refuse new INVITEs statelessly, before pjsua makes calls of them."""
        self.config = config
        self.name = name
        self._want_guard = guard
        self._invite_gate = invite_gate
        self.guard: SipGuard | None = None
        self.log = structlog.get_logger(component="sip", endpoint=name)
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._periodic: list[tuple[float, Callable[[], None]]] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._start_error: BaseException | None = None
        self._ep: pj.Endpoint | None = None
        self._log_writer: _PjLogWriter | None = None
        self.bound_port = 0
        self.refusals: dict[int, int] = {}  # INVITEs pjsua refused itself, by status
        self._on_shutdown: list[Callable[[], None]] = []

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._main, name=f"pjsip-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SipStartError("pjsip did not start in time")
        if self._start_error is not None:
            raise SipStartError(str(self._start_error)) from self._start_error

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        self._thread = None

    def on_shutdown(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the pjsip thread before the library is destroyed (drop references)."""
        self._on_shutdown.append(fn)

    # ---- running code on the pjsip thread -------------------------------------------------
    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if threading.current_thread() is self._thread:
            _run_into(fn, future)
        else:
            self._commands.put((fn, future))
        return future

    def defer(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the pjsip thread's next turn, even when called from that thread
        (e.g. to release a Call object outside its own callback)."""
        self._commands.put((fn, concurrent.futures.Future()))

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.wrap_future(self.submit(fn))

    def every(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the pjsip thread every ``seconds`` (watchdogs)."""
        self._periodic.append((seconds, fn))

    @property
    def endpoint(self) -> pj.Endpoint:
        assert self._ep is not None
        return self._ep

    # ---- the pjsip thread -----------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._init_library()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._start_error = exc
            self._ready.set()
            self._destroy()
            return
        self._ready.set()
        next_run = [time.monotonic() + period for period, _ in self._periodic]
        while not self._stopping.is_set():
            self._drain_commands()
            try:
                self.endpoint.libHandleEvents(_POLL_MS)
            except pj.Error as exc:
                self.log.error("pjsip_poll_failed", error=exc.info())
            now = time.monotonic()
            if len(next_run) != len(self._periodic):
                next_run = [now + period for period, _ in self._periodic]
            for i, (period, fn) in enumerate(self._periodic):
                if now >= next_run[i]:
                    next_run[i] = now + period
                    try:
                        fn()
                    except Exception:  # noqa: BLE001 - a watchdog bug must not stop SIP
                        self.log.exception("periodic_task_failed")
        self._drain_commands()
        self._destroy()

    def _drain_commands(self) -> None:
        while True:
            try:
                fn, future = self._commands.get_nowait()
            except queue.Empty:
                return
            _run_into(fn, future)

    def _init_library(self) -> None:
        cfg = self.config
        ep = pj.Endpoint()
        self._ep = ep
        ep.libCreate()
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0  # we poll from this thread
        ep_cfg.uaConfig.mainThreadOnly = False
        ep_cfg.uaConfig.maxCalls = cfg.calls_per_process
        ep_cfg.uaConfig.userAgent = cfg.user_agent
        ep_cfg.medConfig.clockRate = 16000
        ep_cfg.medConfig.sndClockRate = 16000
        ep_cfg.medConfig.channelCount = 1
        ep_cfg.medConfig.audioFramePtime = 20
        ep_cfg.medConfig.ptime = 20
        ep_cfg.medConfig.noVad = True  # keep sending RTP through agent silence
        ep_cfg.medConfig.ecTailLen = 0  # no acoustic echo on a SIP leg
        ep_cfg.medConfig.maxMediaPorts = 64
        ep_cfg.medConfig.jbInit = cfg.jitter_buffer_init_ms
        ep_cfg.medConfig.jbMinPre = cfg.jitter_buffer_min_ms
        self._log_writer = _PjLogWriter(verbatim=cfg.pjsip_log_level >= 4, on_refusal=self._refused)
        ep_cfg.logConfig.writer = self._log_writer
        ep_cfg.logConfig.level = cfg.pjsip_log_level
        ep_cfg.logConfig.consoleLevel = cfg.pjsip_log_level
        ep_cfg.logConfig.decor = 0
        ep.libInit(ep_cfg)
        for attempt in range(1, AUTO_PORT_TRIES + 1):
            try:
                self._listen(ep, cfg)
                break
            except _PortTaken as taken:
                # Port 0: UDP got a free port, but its number was taken for TCP (often by another
                # process's outgoing connection). Any free port will do: close and pick again.
                if attempt == AUTO_PORT_TRIES:
                    raise SipStartError(str(taken)) from None
                self.log.info("sip_port_retry", port=self.bound_port, attempt=attempt)
        ep.libStart()
        if self._want_guard:
            self.guard = install_guard(GuardPolicy.from_config(cfg), structlog.get_logger(component="sip.guard"), self._invite_gate)
            self.every(1.0, self.guard.sweep)
        ep.audDevManager().setNullDev()  # no sound card: the null device clocks the conference bridge
        self._set_codecs()
        self.log.info("sip_started", host=cfg.host, port=self.bound_port, transports=[t.value for t in cfg.transports])

    def _listen(self, ep: pj.Endpoint, cfg: SipConfig) -> None:
        """One transport per configured protocol, all on one port (cfg.port, or the first free one)."""
        self.bound_port = 0
        created: list[int] = []
        for transport in cfg.transports:
            tcfg = pj.TransportConfig()
            tcfg.port = cfg.port if self.bound_port == 0 else self.bound_port
            tcfg.boundAddress = cfg.host
            if cfg.public_address:
                tcfg.publicAddress = cfg.public_address
            try:
                tid = ep.transportCreate(_PJ_TRANSPORT[transport], tcfg)
            except pj.Error as exc:
                why = f"cannot listen for SIP/{transport.value.upper()} on {cfg.host}:{tcfg.port}: {exc.reason}"
                if cfg.port == 0 and created and exc.status == _PJ_EADDRINUSE:
                    for opened in created:
                        ep.transportClose(opened)
                    raise _PortTaken(why) from None
                raise SipStartError(why) from None
            created.append(tid)
            if self.bound_port == 0:
                self.bound_port = int(ep.transportGetInfo(tid).localName.rpartition(":")[2])

    def _refused(self, status: int, reason: str) -> None:
        self.refusals[status] = self.refusals.get(status, 0) + 1
        why = "no codec in common with the offer" if status == 488 else reason
        self.log.info("call_incoming", decision=status, why=f"{why} (refused by pjsua before a call existed)")

    def _set_codecs(self) -> None:
        ep = self.endpoint
        for info in ep.codecEnum2():
            ep.codecSetPriority(info.codecId, 0)
        wanted = [c.value for c in self.config.codecs]
        available = {info.codecId.rsplit("/", 1)[0]: info.codecId for info in ep.codecEnum2()}
        for rank, name in enumerate(wanted):
            codec_id = available.get(name)
            if codec_id is None:
                raise SipStartError(f"codec {name} is not available in this pjsip build")
            ep.codecSetPriority(codec_id, 250 - rank)

    def _destroy(self) -> None:
        for fn in self._on_shutdown:
            try:
                fn()
            except Exception:  # noqa: BLE001
                self.log.exception("shutdown_hook_failed")
        if self.guard is not None:
            self.guard.uninstall()  # its module and callbacks must not outlive the library
            self.guard = None
        gc.collect()
        if self._ep is not None:
            try:
                self._ep.libDestroy()
            except pj.Error as exc:
                self.log.error("pjsip_destroy_failed", error=exc.info())
            self._ep = None
            self._log_writer = None
            gc.collect()


def _run_into(fn: Callable[[], Any], future: concurrent.futures.Future[Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting side
        future.set_exception(exc)
