"""A seeded SIP message fuzzer: well-formed requests of every method, then mutated the ways
real stacks and attackers get SIP wrong (truncation, byte flips, lying Content-Length,
duplicated or missing headers, huge values, bad SDP, binary garbage, oversized datagrams).
Deterministic for a seed, so a failure names the message that caused it."""

from __future__ import annotations

import random
from collections.abc import Iterator

METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE", "SUBSCRIBE", "NOTIFY", "INFO",
           "UPDATE", "PRACK", "REFER", "PUBLISH", "FOO")
SDP = ("v=0\r\no=f 1 1 IN IP4 127.0.0.1\r\ns=f\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP {pts}\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")


def base_request(rng: random.Random, port: int, local: tuple[str, int]) -> str:
    method = rng.choice(METHODS)
    tag = f";tag={rng.getrandbits(32):x}" if rng.random() < 0.3 else ""
    body = ""
    if method in ("INVITE", "UPDATE", "ACK") and rng.random() < 0.7:
        body = SDP.format(port=rng.choice([0, 4000, 65535, 70000]), pts=rng.choice(["0", "0 8 101", "18", "96 97", ""]))
    user = rng.choice(["bedside", "100", "admin", "+15551234567", "", "%00", "a" * 300])
    uri = f"sip:{user}@127.0.0.1:{port}" if user else f"sip:127.0.0.1:{port}"
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{rng.getrandbits(48):x};rport",
        "Max-Forwards: 70",
        f"From: <sip:fuzz@{local[0]}>;tag={rng.getrandbits(32):x}",
        f"To: <{uri}>{tag}",
        f"Call-ID: {rng.getrandbits(64):x}@fuzz",
        f"CSeq: {rng.randint(0, 2**31)} {method}",
        f"Contact: <sip:fuzz@{local[0]}:{local[1]}>",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def mutate(rng: random.Random, message: str) -> bytes:
    data = message.encode()
    kind = rng.randrange(12)
    if kind == 0:  # truncated anywhere
        return data[: rng.randrange(1, len(data))]
    if kind == 1:  # byte flips
        buf = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    if kind == 2:  # Content-Length that lies
        return message.replace("Content-Length: ", f"Content-Length: {rng.choice([-1, 99999, 2**40])}0", 1).encode()
    if kind == 3:  # a header repeated many times
        line = rng.choice(message.split("\r\n")[1:8])
        return message.replace(line, "\r\n".join([line] * rng.randint(2, 60)), 1).encode()[:8000]
    if kind == 4:  # a required header gone
        lines = message.split("\r\n")
        del lines[rng.randrange(1, 8)]
        return "\r\n".join(lines).encode()
    if kind == 5:  # a huge header value
        return message.replace("\r\n\r\n", f"\r\nX-Fuzz: {'A' * rng.randint(500, 6000)}\r\n\r\n", 1).encode()
    if kind == 6:  # oversized datagram (past pjsip's 4,000-byte buffer)
        return (message + "a=x-pad:" + "p" * 4500 + "\r\n").encode()
    if kind == 7:  # binary garbage
        return rng.randbytes(rng.randint(1, 1500))
    if kind == 8:  # bad SDP
        bad = rng.choice(["v=1\r\n", "m=audio x RTP/AVP\r\n", "c=IN IP9 ::::\r\n", "\x00\x01\x02", "m=" * 500])
        return message.replace("\r\n\r\n", "\r\nContent-Type: application/sdp\r\n\r\n" + bad, 1).encode()
    if kind == 9:  # header folding and odd whitespace
        return message.replace(": ", ":\r\n \t", rng.randint(1, 5)).encode()
    if kind == 10:  # weird request line
        line = rng.choice(["INVITE  SIP/2.0", "INVITE sip: SIP/2.0", "INVITE sip:a@b SIP/3.0", "\r\n\r\nINVITE",
                           "SIP/2.0 200 OK", "INVITE <sip:x@y> SIP/2.0"])
        return (line + "\r\n" + message.split("\r\n", 1)[1]).encode()
    return data  # kind 11: well-formed


def messages(seed: int, count: int, port: int, local: tuple[str, int]) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        yield mutate(rng, base_request(rng, port, local))
