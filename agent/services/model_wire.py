"""The wire between a node's model host and its SIP workers (agent/services/model_host.py).

Length-prefixed frames on a local Unix socket: an 8-byte header (two big-endian uint32: the
JSON part's length, the payload's length), a JSON object (``op``, ``id`` and the op's fields),
then raw bytes (PCM, float32 vectors). Hand-written on asyncio streams and ``struct`` rather than
a library: the socket never leaves the host, every frame is one ``write`` (so concurrent senders
never interleave), and a WebSocket or gRPC layer would add framing, masking and a dependency
to what is 40 lines here. Sizes are bounded before anything is read into memory."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

HEADER = struct.Struct(">II")
MAX_FIELDS_BYTES = 1 << 20  # a request's text and settings; a graph's phrases to embed stay well under
MAX_PAYLOAD_BYTES = 64 << 20  # a 30-min utterance of 16 kHz PCM is 57.6 MB; STT refuses longer anyway


class Op(StrEnum):
    HELLO = "hello"  # worker -> host: the token; host -> worker: accepted
    TRANSCRIBE = "transcribe"  # payload: 16 kHz int16 PCM; answered by RESULT (a Transcript) or ERROR
    SYNTHESIZE = "synthesize"  # text and voice params; answered by CHUNKs (PCM per sentence), then END or ERROR
    EMBED = "embed"  # texts; answered by RESULT with (n, d) float32 rows
    CANCEL = "cancel"  # worker -> host: drop request ``id`` (a caller hung up or barged in)
    RESULT = "result"
    CHUNK = "chunk"
    END = "end"
    ERROR = "error"  # fields: kind (overloaded, stopped, failed, refused), message
    STATUS = "status"  # host -> worker, on change: stt_idle, stt_queue, tts_busy
    PHRASE = "phrase"  # host -> worker: a pre-synthesized sentence is in the shared phrase file


@dataclass(frozen=True, slots=True)
class HostStatus:
    """The ``STATUS`` frame's fields: the node's decoder and voice as the host last saw them."""

    stt_idle: bool = True
    stt_queue: int = 0
    tts_busy: bool = False


class WireError(ConnectionError):
    """A malformed or oversized frame, or a closed connection."""


@dataclass(frozen=True, slots=True)
class Frame:
    op: Op
    id: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""

    def encode(self) -> bytes:
        head = json.dumps({"op": self.op.value, "id": self.id, **self.fields}, separators=(",", ":")).encode()
        if len(head) > MAX_FIELDS_BYTES or len(self.payload) > MAX_PAYLOAD_BYTES:
            raise WireError(f"frame too large ({len(head)} + {len(self.payload)} bytes)")
        return HEADER.pack(len(head), len(self.payload)) + head + self.payload


def _decode(head: bytes, payload: bytes) -> Frame:
    try:
        data = json.loads(head)
        op = Op(data.pop("op"))
        ident = int(data.pop("id"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WireError(f"malformed frame: {type(exc).__name__}") from None
    return Frame(op, ident, data, payload)


def _check(head_len: int, payload_len: int) -> None:
    if head_len > MAX_FIELDS_BYTES or payload_len > MAX_PAYLOAD_BYTES:
        raise WireError(f"frame too large ({head_len} + {payload_len} bytes)")


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    try:
        head_len, payload_len = HEADER.unpack(await reader.readexactly(HEADER.size))
        _check(head_len, payload_len)
        head = await reader.readexactly(head_len)
        payload = await reader.readexactly(payload_len) if payload_len else b""
    except asyncio.IncompleteReadError:
        raise WireError("connection closed") from None
    return _decode(head, payload)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            raise WireError("connection closed")
        chunks += chunk
    return bytes(chunks)


def read_frame_blocking(sock: socket.socket) -> Frame:
    """The same frame on a blocking socket (the embedder's, called from synchronous code)."""
    head_len, payload_len = HEADER.unpack(_recv_exactly(sock, HEADER.size))
    _check(head_len, payload_len)
    head = _recv_exactly(sock, head_len)
    return _decode(head, _recv_exactly(sock, payload_len) if payload_len else b"")


__all__ = ["Frame", "HostStatus", "MAX_PAYLOAD_BYTES", "Op", "WireError", "read_frame", "read_frame_blocking"]
