"""Signed, single-use redirect tickets: how a SIP worker knows a caller was sent by the front.

The front answers a call it cannot hold with ``302`` to a worker, and puts a ticket in the
Contact URI (``sip:bedside@host:port;bt=<ticket>``). A ticket names the worker's port, expires
after ``ttl_s`` and is an HMAC under a key the front made at start and handed to its workers
over a pipe (never a file). A worker answers only INVITEs that carry a valid ticket it has not
seen before, so its port cannot be used to bypass the front's admission, allowlist or
authentication, and a captured redirect cannot be replayed for a second call."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from enum import StrEnum

PARAM = "bt"
_TICKET = re.compile(rf";{PARAM}=([0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+)", re.IGNORECASE)


class TicketCheck(StrEnum):
    OK = "ok"
    MISSING = "missing"
    FORGED = "forged"  # bad MAC, or made for another worker
    EXPIRED = "expired"
    REUSED = "reused"


def new_key() -> bytes:
    return secrets.token_bytes(32)


def ticket_in(request_uri: str) -> str | None:
    m = _TICKET.search(request_uri)
    return m.group(1) if m else None


class RedirectTickets:
    def __init__(self, key: bytes, ttl_s: float, clock=time.time) -> None:
        # Wall-clock time: the front and its workers are different processes.
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock
        self._used: dict[str, float] = {}  # nonce -> expiry, until it could no longer be replayed

    def issue(self, port: int) -> str:
        expires = f"{int((self._clock() + self.ttl_s) * 1000):x}"
        nonce = secrets.token_hex(6)
        return f"{expires}.{nonce}.{self._mac(port, expires, nonce)}"

    def uri_param(self, port: int) -> str:
        return f";{PARAM}={self.issue(port)}"

    def check(self, ticket: str | None, port: int) -> TicketCheck:
        if not ticket:
            return TicketCheck.MISSING
        expires, _, rest = ticket.partition(".")
        nonce, _, mac = rest.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(port, expires, nonce)):
            return TicketCheck.FORGED
        now = self._clock()
        until = int(expires, 16) / 1000
        if until < now:
            return TicketCheck.EXPIRED
        self._used = {n: t for n, t in self._used.items() if t >= now}
        if nonce in self._used:
            return TicketCheck.REUSED
        self._used[nonce] = until
        return TicketCheck.OK

    def _mac(self, port: int, expires: str, nonce: str) -> str:
        return hmac.new(self._key, f"{port}.{expires}.{nonce}".encode(), hashlib.sha256).hexdigest()[:32]
