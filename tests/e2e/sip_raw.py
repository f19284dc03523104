"""Hand-made SIP over loopback sockets, for tests that attack the server as a PBX or an
attacker would: late-offer INVITEs, INVITEs never ACKed, floods, fuzzed datagrams. SIPp is
the tool for well-formed call flows; this is for the datagrams SIPp will not send."""

from __future__ import annotations

import re
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

SDP_PCMU = (
    "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=raw\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


def datagrams(sock: socket.socket, timeout: float) -> Iterator[bytes]:
    """Datagrams ``sock`` receives within ``timeout`` s, as they come."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except (TimeoutError, socket.timeout):
            return
        yield data


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def parse_response(data: bytes) -> Response | None:
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if not m:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return Response(int(m.group(1)), m.group(2), headers, body)


@dataclass
class Dialog:
    """One INVITE's identity, so the test can ACK, BYE or CANCEL it."""

    user: str = "bedside"
    call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    from_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    branch: str = field(default_factory=lambda: "z9hG4bK" + secrets.token_hex(6))
    to_tag: str = ""
    cseq: int = 1


class RawSip:
    """A UDP SIP client socket on 127.0.0.1 (or another loopback address) that sends text
    and collects responses."""

    def __init__(self, server_port: int, host: str = "127.0.0.1", bind: str = "127.0.0.1") -> None:
        self.server = (host, server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, 0))
        self.local = self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawSip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes | str) -> None:
        self.sock.sendto(data.encode() if isinstance(data, str) else data, self.server)

    def responses(self, timeout: float, until: int | None = None) -> list[Response]:
        """Responses received within ``timeout`` s (stops early at a final >= ``until``)."""
        out: list[Response] = []
        for data in datagrams(self.sock, timeout):
            response = parse_response(data)
            if response is None:
                continue
            out.append(response)
            if until is not None and response.status >= until:
                break
        return out

    def requests_received(self, timeout: float) -> list[str]:
        """Request lines the server sent us (e.g. a BYE) within ``timeout`` s."""
        return [data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
                for data in datagrams(self.sock, timeout) if not data.startswith(b"SIP/2.0")]

    def final(self, timeout: float = 5.0) -> Response | None:
        finals = [r for r in self.responses(timeout, until=200) if r.status >= 200]
        return finals[-1] if finals else None

    # ---- requests --------------------------------------------------------------------------
    def request(self, method: str, dialog: Dialog, body: str = "", extra: str = "", uri: str | None = None) -> str:
        host, port = self.server
        lhost, lport = self.local
        uri = uri or f"sip:{dialog.user}@{host}:{port}"
        to_tag = f";tag={dialog.to_tag}" if dialog.to_tag else ""
        content_type = "Content-Type: application/sdp\r\n" if body else ""
        return (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {lhost}:{lport};branch={dialog.branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:raw@{lhost}:{lport}>;tag={dialog.from_tag}\r\n"
            f"To: <sip:{dialog.user}@{host}:{port}>{to_tag}\r\n"
            f"Call-ID: {dialog.call_id}\r\n"
            f"CSeq: {dialog.cseq} {method if method != 'ACK' else 'INVITE'}\r\n"
            f"Contact: <sip:raw@{lhost}:{lport}>\r\n"
            f"{extra}{content_type}Content-Length: {len(body.encode())}\r\n\r\n{body}"
        )

    def invite(self, dialog: Dialog, sdp_port: int | None = None, extra: str = "", uri: str | None = None) -> None:
        """An INVITE; ``sdp_port=None`` sends a late offer (no SDP, as many PBXs do)."""
        body = SDP_PCMU.format(port=sdp_port) if sdp_port else ""
        self.send(self.request("INVITE", dialog, body, extra, uri))

    def ack(self, dialog: Dialog, body: str = "") -> None:
        # An ACK for a 2xx is a new transaction (its own branch); for a non-2xx it reuses the INVITE's.
        self.send(self.request("ACK", dialog, body))

    def bye(self, dialog: Dialog) -> None:
        d = Dialog(dialog.user, dialog.call_id, dialog.from_tag, "z9hG4bK" + secrets.token_hex(6), dialog.to_tag,
                   dialog.cseq + 1)
        self.send(self.request("BYE", d))


def to_tag_of(response: Response) -> str:
    m = re.search(r";tag=([^;>\s]+)", response.header("to") or "")
    return m.group(1) if m else ""


@dataclass
class PlacedCall:
    """An INVITE followed to its end: answered (ACKed, media on ``rtp``) or refused."""

    sip: RawSip
    dialog: Dialog
    rtp: socket.socket
    status: int = 0
    response: Response | None = None
    answered_at: float = 0.0
    redirects: int = 0

    def hang_up(self) -> None:
        if self.status == 200:
            self.sip.bye(self.dialog)
            self.sip.responses(1.0, until=200)
        self.close()

    def close(self) -> None:
        self.rtp.close()
        self.sip.close()

    def first_voice_s(self, timeout: float = 5.0) -> float | None:
        """Seconds from the 200 to the first RTP packet that carries sound (PCMU, not silence)."""
        for packet in datagrams(self.rtp, timeout):
            payload = packet[12:]
            # u-law silence is 0xFF/0x7F; speech has bytes far from them
            if payload and sum(1 for b in payload if b & 0x7F < 0x70) > len(payload) // 4:
                return time.monotonic() - self.answered_at
        return None


def place_calls(server_port: int, count: int, late_offer: bool = False, ack: bool = True,
                follow_redirects: bool = True, timeout: float = 10.0, bind: str = "127.0.0.1",
                user: str = "bedside") -> list[PlacedCall]:
    """``count`` INVITEs sent at once, each from its own socket, followed through 302s to a
    final answer; answered ones are ACKed unless ``ack`` is False."""
    import selectors

    calls: list[PlacedCall] = []
    selector = selectors.DefaultSelector()
    for _ in range(count):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((bind, 0))
        call = PlacedCall(RawSip(server_port, bind=bind), Dialog(user=user), rtp)
        call.sip.invite(call.dialog, None if late_offer else rtp.getsockname()[1])
        selector.register(call.sip.sock, selectors.EVENT_READ, call)
        calls.append(call)
    pending = set(range(count))
    deadline = time.monotonic() + timeout
    while pending and (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(left):
            call = key.data
            data, _ = call.sip.sock.recvfrom(65535)
            response = parse_response(data)
            if response is None or response.status < 200 or call.status:
                continue
            call.dialog.to_tag = to_tag_of(response)
            if response.status == 302 and follow_redirects:
                call.sip.ack(call.dialog)  # ACK for a non-2xx: same branch as the INVITE
                target = re.search(r"<sip:[^@]+@([^:;>]+):(\d+)([^>]*)>", response.header("contact") or "")
                assert target, response.headers
                call.sip.server = (target.group(1), int(target.group(2)))
                call.redirects += 1
                call.dialog = Dialog(user=call.dialog.user)
                uri = f"sip:{call.dialog.user}@{target.group(1)}:{target.group(2)}{target.group(3)}"
                call.sip.invite(call.dialog, None if late_offer else call.rtp.getsockname()[1], uri=uri)
                continue
            call.status, call.response = response.status, response
            if response.status == 200:
                call.answered_at = time.monotonic()
                if ack:
                    body = SDP_PCMU.format(port=call.rtp.getsockname()[1]) if late_offer else ""
                    ack_dialog = Dialog(call.dialog.user, call.dialog.call_id, call.dialog.from_tag,
                                        "z9hG4bK" + secrets.token_hex(6), call.dialog.to_tag)
                    call.sip.ack(ack_dialog, body)
            else:
                call.sip.ack(call.dialog)
            pending.discard(calls.index(call))
    selector.close()
    return calls


def assert_greeting_heard(server_port: int, within_s: float = 1.0, wait_s: float = 3.0) -> None:
    """One ordinary call: answered, and the agent's greeting heard within ``within_s`` of the 200."""
    (call,) = place_calls(server_port, 1)
    try:
        assert call.status == 200, call.response
        heard = call.first_voice_s(timeout=wait_s)
        assert heard is not None and heard < within_s, f"greeting after {heard} s"
    finally:
        call.hang_up()


def digest_authorization(challenge: str, user: str, password: str, uri: str, method: str = "INVITE") -> str:
    """An ``Authorization`` header line answering a ``WWW-Authenticate`` challenge (RFC 2617, qop=auth)."""
    import hashlib

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    params = {m.group(1).lower(): m.group(2) or m.group(3) for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', challenge)}
    realm, nonce = params["realm"], params["nonce"]
    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    response = md5(f"{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}")
    return (f'Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001\r\n')
