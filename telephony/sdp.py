"""Just enough SDP reading to decide, before answering, whether an offer is acceptable.

pjsua negotiates media itself; this check exists so that an offer with no codec in
common gets an explicit 488 with a log line saying what was offered, and so that a
malformed body is reported rather than half-answered."""

from __future__ import annotations

from dataclasses import dataclass

# Static RTP payload types (RFC 3551) for the codecs Bedside can speak.
_STATIC_PAYLOADS = {0: "PCMU/8000", 8: "PCMA/8000", 9: "G722/8000"}  # G.722's RTP clock is 8000 by RFC quirk


class SdpError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class AudioOffer:
    payload_types: tuple[int, ...]
    codecs: tuple[str, ...]  # "NAME/RATE", upper-case name, telephone-event included


def sip_body(message: str) -> str:
    """The body of a raw SIP message (after the blank line)."""
    for separator in ("\r\n\r\n", "\n\n"):
        head, sep, body = message.partition(separator)
        if sep:
            return body
    return ""


def parse_audio_offer(sdp: str) -> AudioOffer | None:
    """The first audio m-line's codecs, or None when the SDP has no audio stream."""
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines:
        return None
    if not lines[0].startswith("v="):
        raise SdpError("SDP does not start with v=")
    payloads: list[int] | None = None
    rtpmap: dict[int, str] = {}
    in_audio = False
    for line in lines:
        if line.startswith("m="):
            if payloads is not None and in_audio:
                break
            parts = line[2:].split()
            in_audio = bool(parts) and parts[0] == "audio"
            if in_audio:
                if len(parts) < 4:
                    raise SdpError(f"malformed m= line: {line!r}")
                try:
                    payloads = [int(p) for p in parts[3:]]
                except ValueError as exc:
                    raise SdpError(f"non-numeric payload type in {line!r}") from exc
        elif in_audio and line.startswith("a=rtpmap:"):
            key, _, value = line[len("a=rtpmap:") :].partition(" ")
            try:
                rtpmap[int(key)] = value.strip()
            except ValueError as exc:
                raise SdpError(f"malformed rtpmap: {line!r}") from exc
    if payloads is None:
        return None
    codecs = []
    for pt in payloads:
        name = rtpmap.get(pt) or _STATIC_PAYLOADS.get(pt, f"PT{pt}")
        encoding, _, rest = name.partition("/")
        rate = rest.split("/")[0] if rest else ""
        codecs.append(f"{encoding.upper()}/{rate}" if rate else encoding.upper())
    return AudioOffer(tuple(payloads), tuple(codecs))


def common_codecs(offer: AudioOffer, supported: list[str]) -> list[str]:
    """Offered codecs Bedside can speak. ``supported`` uses pjsua names (``G722/16000``)."""
    wanted = {s.upper().replace("G722/16000", "G722/8000") for s in supported}
    return [c for c in offer.codecs if c in wanted]
