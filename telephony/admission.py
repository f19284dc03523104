"""Who may call, and whether there is room: the answer to one incoming INVITE.

Pure logic over plain data (the INVITE as pjsip received it, the process's load), so every
rule is unit-tested without a SIP stack; ``user_agent`` sends the answer outside pjsua's
callback. The rules, in order (each refusal says why in the log, never who called):

1. the source address must be in ``sip.allowed_sources`` (403);
2. a worker takes only callers the front redirected to it, with a valid single-use ticket (403);
3. with ``sip.inbound_auth`` set, the caller must pass digest authentication (401 challenge,
   403 once a source is locked out) — before the user part is looked at, so a scan cannot
   tell a valid extension from an invalid one;
4. the request URI's user part must be one of ``sip.accepted_users`` (404);
5. draining or full: 503 with Retry-After; the front redirects (302) to a worker with room,
   and never admits more than ``sip.max_calls`` across all processes;
6. the SDP offer, if any, must be well formed (400) and have a codec in common (488)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network

from telephony.config import SipConfig
from telephony.digest import DigestAuthenticator, DigestResult
from telephony.redirect_ticket import RedirectTickets, TicketCheck, ticket_in
from telephony.sdp import SdpError, common_codecs, parse_audio_offer, sip_body

_REQUEST_LINE = re.compile(r"^(?P<method>[A-Za-z]+) (?P<uri>\S+) SIP/2\.0", re.IGNORECASE)
_URI_USER = re.compile(r"^(?:sips?|tel):(?:(?P<user>[^@;>?]+)@)?", re.IGNORECASE)


class Role(StrEnum):
    SINGLE = "single"  # the only process
    FRONT = "front"  # public port; redirects to workers when full
    WORKER = "worker"  # takes only callers the front redirected


@dataclass(frozen=True, slots=True)
class IncomingInvite:
    """What admission needs of an INVITE, from pjsip's received message."""

    source: str  # the sender's IP address (no port)
    request_uri: str
    user: str  # the request URI's user part ('' when it has none)
    authorization: str | None
    body: str
    call_id: str = ""  # the SIP Call-ID header

    @classmethod
    def parse(cls, message: str, source_address: str) -> IncomingInvite:
        head, _, _ = message.partition("\r\n\r\n")
        lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
        m = _REQUEST_LINE.match(lines[0]) if lines else None
        uri = m.group("uri") if m else ""
        user_match = _URI_USER.match(uri)
        user = (user_match.group("user") or "") if user_match else ""
        authorization, call_id = None, ""
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            key = name.strip().lower()
            if not sep:
                continue
            if key == "authorization" and authorization is None:
                authorization = value.strip()
            elif key in ("call-id", "i") and not call_id:
                call_id = value.strip()
        return cls(source_ip(source_address), uri, user, authorization, sip_body(message), call_id)


def source_ip(address: str) -> str:
    """``1.2.3.4:5060`` or ``[::1]:5060`` -> the address without the port."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    host, sep, port = address.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else address


def address_allowed(ip: str, networks: Iterable[IPv4Network | IPv6Network]) -> bool:
    """Is ``ip`` in one of ``networks``? An IPv4-mapped IPv6 address counts as its IPv4 one."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


@dataclass(frozen=True, slots=True)
class Decision:
    status: int
    why: str  # for the log: never the caller's number or words
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status == 200


Redirector = Callable[[], str | None]  # a worker's URI (with its ticket) that has room, or None


class Admission:
    def __init__(
        self,
        config: SipConfig,
        role: Role,
        tickets: RedirectTickets | None = None,
        redirector: Redirector | None = None,
        others_load: Callable[[], int] | None = None,
    ) -> None:
        """``others_load``: calls the other processes hold or have been promised (front only)."""
        self.config = config
        self.role = role
        self.tickets = tickets
        self.redirector = redirector
        self.others_load = others_load
        self.auth = DigestAuthenticator(config.inbound_auth) if config.inbound_auth.username else None
        self._allowed = [ipaddress.ip_network(n) for n in config.allowed_sources]
        self._users = {u.lower() for u in config.accepted_users}
        aor = _URI_USER.match(config.registration.aor or "")
        if aor and aor.group("user"):  # the number a trunk registration brings calls for
            self._users.add(aor.group("user").lower())
        assert role is not Role.WORKER or tickets is not None, "a worker checks the front's tickets"

    @property
    def local_capacity(self) -> int:
        """Calls this process answers itself. The front keeps one pjsua slot free: pjsua refuses
        on its own (486, no Retry-After) when every slot is taken, and a refused or redirected
        INVITE holds a slot until its answer has gone out."""
        per = self.config.calls_per_process
        if self.role is Role.FRONT:
            return per - 1
        return min(per, self.config.max_calls)

    def source_allowed(self, source: str) -> bool:
        return address_allowed(source, self._allowed)

    def decide(self, invite: IncomingInvite, accepting: bool, active: int, own_port: int = 0) -> Decision:
        if not self.source_allowed(invite.source):
            return Decision(403, "source address not in sip.allowed_sources")
        if self.role is Role.WORKER:
            assert self.tickets is not None
            check = self.tickets.check(ticket_in(invite.request_uri), own_port)
            if check is not TicketCheck.OK:
                return Decision(403, f"worker takes calls only through the front (ticket {check})")
        elif self.auth is not None:
            refused = self._authenticate(invite)
            if refused is not None:
                return refused
        if "*" not in self._users and invite.user.lower() not in self._users and self.role is not Role.WORKER:
            return Decision(404, "user part not in sip.accepted_users")
        retry = (("Retry-After", str(self.config.retry_after_s)),)
        if not accepting:
            return Decision(503, "not accepting calls (draining)", retry)
        if self.role is Role.FRONT:
            total = active + (self.others_load() if self.others_load else 0)
            if total >= self.config.max_calls:
                return Decision(503, f"at capacity ({total} of sip.max_calls={self.config.max_calls})", retry)
        if active >= self.local_capacity:
            target = self.redirector() if self.redirector is not None and self.role is Role.FRONT else None
            if target is not None:
                return Decision(302, "redirected to a worker", (("Contact", f"<{target}>"),))
            return Decision(503, "no room in this process", retry)
        return self._offer(invite.body)

    def _authenticate(self, invite: IncomingInvite) -> Decision | None:
        assert self.auth is not None
        result = self.auth.check(invite.authorization, "INVITE", invite.source)
        if result is DigestResult.OK:
            return None
        if result is DigestResult.LOCKED_OUT:
            return Decision(403, "source locked out after failed authentication")
        challenge = (("WWW-Authenticate", self.auth.challenge(stale=result is DigestResult.STALE)),)
        return Decision(401, f"authentication {result}", challenge)

    def _offer(self, body: str) -> Decision:
        if not body.strip():
            return Decision(200, "no SDP offer (offer will come in our answer)")
        try:
            offer = parse_audio_offer(body)
        except SdpError as exc:
            return Decision(400, f"malformed SDP: {exc}")
        if offer is None:
            return Decision(488, "no audio stream offered")
        usable = common_codecs(offer, [c.value for c in self.config.codecs])
        if not usable:
            return Decision(488, f"no codec in common with the offer {list(offer.codecs)}")
        return Decision(200, f"codec {usable[0]}")
