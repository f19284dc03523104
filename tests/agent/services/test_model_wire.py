"""The model host's frames: round trips on asyncio and blocking sockets, and the bounds that
keep a bad peer from making either side read gigabytes."""

from __future__ import annotations

import asyncio
import socket

import pytest

from agent.services.model_wire import HEADER, MAX_PAYLOAD_BYTES, Frame, Op, WireError, read_frame, read_frame_blocking


async def _read(data: bytes) -> Frame:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return await read_frame(reader)


async def test_a_frame_round_trips_with_its_fields_and_payload() -> None:
    frame = Frame(Op.TRANSCRIBE, 7, {"call_id": "c-1", "nested": {"a": [1, 2]}}, b"\x00\x01" * 100)
    assert await _read(frame.encode()) == frame
    assert await _read(Frame(Op.END, 3).encode()) == Frame(Op.END, 3)


async def test_a_closed_connection_or_truncated_frame_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="closed"):
        await _read(b"")
    with pytest.raises(WireError, match="closed"):
        await _read(Frame(Op.CHUNK, 1, payload=b"x" * 10).encode()[:-3])


async def test_an_oversized_frame_is_refused_before_it_is_read() -> None:
    with pytest.raises(WireError, match="too large"):
        await _read(HEADER.pack(10, MAX_PAYLOAD_BYTES + 1))  # nothing after the header: it never waits for it
    with pytest.raises(WireError, match="too large"):
        Frame(Op.CHUNK, 1, payload=bytes(MAX_PAYLOAD_BYTES + 1)).encode()


@pytest.mark.parametrize("head", [b"not json", b'{"id": 1}', b'{"op": "nope", "id": 1}', b'{"op": "end", "id": "x"}', b"[1]"])
async def test_a_malformed_header_is_a_wire_error(head: bytes) -> None:
    with pytest.raises(WireError, match="malformed"):
        await _read(HEADER.pack(len(head), 0) + head)


def test_the_blocking_reader_reads_the_same_frames() -> None:
    left, right = socket.socketpair()
    with left, right:
        frame = Frame(Op.RESULT, 9, {"shape": [2, 3]}, bytes(range(24)))
        left.sendall(frame.encode())
        assert read_frame_blocking(right) == frame
        left.close()
        with pytest.raises(WireError, match="closed"):
            read_frame_blocking(right)
