"""SIP over TCP under load: which connections must go, and when to stop accepting.

pjsip's select ioqueue has 64 handles (compiled in) and every accepted TCP connection takes
one; 62 idle half-sent INVITEs locked every TCP caller out, and accepting while no handle was
free aborted the process (pjlib's ``free_list`` assertion). The SIP guard feeds these pure
ledgers from pjsip's transport-state callback and acts on their answers:

* ``TcpLedger``: a per-source connection cap and a first-message timeout;
* ``HandleBudget``: live handles plus those closed too recently to be reused, with hysteresis;
* ``ListenGate``: a drop-all socket filter on pjsip's listener while the budget is spent, so
  the kernel leaves new handshakes to the callers' own retransmissions."""

from __future__ import annotations

import ctypes
import os
import socket
import stat
import struct
from collections import deque
from dataclasses import dataclass, field

from telephony import pjsip_abi as abi


@dataclass
class _Conn:
    source: str
    since: float
    delivered: bool = False
    doomed: str | None = None  # why it is to be shut down (source | over_cap | first_message_timeout)


@dataclass
class TcpLedger:
    """Incoming TCP connections by transport pointer: per-source cap and first-message timeout."""

    max_per_source: int
    first_message_timeout_s: float
    conns: dict[int, _Conn] = field(default_factory=dict)

    def opened(self, key: int, source: str, now: float, allowed: bool = True) -> str | None:
        """Record an accepted connection; returns why it must go (source | over_cap) or None."""
        live = sum(1 for c in self.conns.values() if c.source == source and c.doomed is None)
        conn = _Conn(source, now)
        if not allowed:
            conn.doomed = "source"  # whatever it sends gets 403: it may not hold a slot
        elif live >= self.max_per_source:
            conn.doomed = "over_cap"
        self.conns[key] = conn
        return conn.doomed

    def delivered(self, key: int) -> None:
        conn = self.conns.get(key)
        if conn is not None:
            conn.delivered = True

    def closed(self, key: int) -> None:
        self.conns.pop(key, None)

    def due(self, now: float) -> list[tuple[int, str]]:
        """Connections to shut down now (each reported once), with the reason."""
        out: list[tuple[int, str]] = []
        for key, conn in self.conns.items():
            if conn.doomed is None and not conn.delivered and now - conn.since >= self.first_message_timeout_s:
                conn.doomed = "first_message_timeout"
            if conn.doomed is not None and conn.doomed != "done":
                out.append((key, conn.doomed))
                conn.doomed = "done"
        return out

    def count(self, source: str) -> int:
        return sum(1 for c in self.conns.values() if c.source == source)


@dataclass
class HandleBudget:
    """The ioqueue's handles as pjlib sees them: live TCP transports plus those closed less
    than ``reuse_delay_s`` ago (not reusable yet). ``gate`` says when to stop the kernel from
    completing new TCP handshakes, with hysteresis: past ``high`` until back under ``low``.
    ``high`` leaves room for the listen backlog (5) that pjsip still accepts after the gate
    shuts, so an accept never finds every handle taken (pjlib would abort, see pjsip_abi)."""

    high: int = abi.PJ_IOQUEUE_MAX_HANDLES - 16
    low: int = abi.PJ_IOQUEUE_MAX_HANDLES - 24
    reuse_delay_s: float = 2 * abi.PJ_IOQUEUE_KEY_FREE_DELAY_S
    live: set[int] = field(default_factory=set)
    closed_at: deque[float] = field(default_factory=deque)
    gated: bool = False

    def opened(self, key: int) -> None:
        self.live.add(key)

    def destroyed(self, key: int, now: float) -> None:
        if key in self.live:
            self.live.discard(key)
            self.closed_at.append(now)

    def in_use(self, now: float) -> int:
        while self.closed_at and now - self.closed_at[0] >= self.reuse_delay_s:
            self.closed_at.popleft()
        return len(self.live) + len(self.closed_at)

    def gate(self, now: float) -> bool:
        used = self.in_use(now)
        self.gated = used >= self.high or (self.gated and used >= self.low)
        return self.gated


class ListenGate:
    """Stops and restarts a TCP listener's handshakes with a drop-all socket filter.

    pjsip cannot pause its listener, and every accept takes an ioqueue handle; a classic
    BPF filter on the listening socket makes the kernel drop new SYNs (clients retransmit
    them 1 s, 3 s later), which is the only admission control reachable from here."""

    _DROP_ALL = (ctypes.c_uint8 * 8)(0x06, 0, 0, 0, 0, 0, 0, 0)  # BPF_RET|BPF_K, k=0

    def __init__(self, port: int) -> None:
        self.port = port
        self.closed = False
        self._socks = _listening_sockets(port)
        self._prog = struct.pack("HxxxxxxP", 1, ctypes.addressof(self._DROP_ALL))

    @property
    def found(self) -> bool:
        return bool(self._socks)

    def set_closed(self, closed: bool) -> None:
        if closed == self.closed:
            return
        for sock in self._socks:
            try:
                if closed:
                    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, self._prog)
                else:
                    sock.setsockopt(socket.SOL_SOCKET, _SO_DETACH_FILTER, 0)
            except FileNotFoundError:
                pass  # detach with no filter attached (ENOENT): already open
        self.closed = closed

    def release(self) -> None:
        self.set_closed(False)
        for sock in self._socks:
            sock.close()  # our duplicates only: pjsip keeps its own descriptor
        self._socks = []


_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
_SO_DETACH_FILTER = getattr(socket, "SO_DETACH_FILTER", 27)


def _listening_sockets(port: int) -> list[socket.socket]:
    """Duplicates of this process's listening TCP sockets on ``port`` (pjsip's listener)."""
    found: list[socket.socket] = []
    seen: set[int] = set()
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return found
    for fd in fds:
        try:
            info = os.fstat(fd)
            if not stat.S_ISSOCK(info.st_mode) or info.st_ino in seen:
                continue  # (the same socket under two descriptors: filter it once)
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            listening = sock.type == socket.SOCK_STREAM and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            if listening and sock.getsockname()[1] == port:
                found.append(sock)
                seen.add(info.st_ino)
                continue
        except OSError:
            pass
        sock.close()
    return found
