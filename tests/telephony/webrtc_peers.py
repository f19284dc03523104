"""Helpers for the WebRTC tests: tones, their frequency, and a calling side that places a call
through a gateway the way a page does."""

from __future__ import annotations

import asyncio

import numpy as np

from telephony.audio import SAMPLE_RATE
from telephony.call_session import CallSession, Direction
from telephony.webrtc_call import WebRtcCall
from telephony.webrtc_gateway import WebRtcGateway

LOOPBACK = ["127.0.0.1"]


def tone(hz: float, seconds: float) -> bytes:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2").tobytes()


def dominant_hz(pcm: bytes) -> float:
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)[np.argmax(spectrum)])


def loud(pcm: bytes, floor: int = 1000) -> bytes:
    """The frames of ``pcm`` that carry a signal (drops the silence around it)."""
    x = np.frombuffer(pcm, "<i2")
    frames = [x[i:i + 320] for i in range(0, len(x) - 319, 320)]
    return b"".join(f.tobytes() for f in frames if np.abs(f).max() > floor)


async def drain_audio(session: CallSession, seconds: float) -> bytes:
    got = bytearray()
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            got += (await asyncio.wait_for(session.audio.get(), left)).pcm
        except TimeoutError:
            break
    return bytes(got)


async def place(gateway: WebRtcGateway) -> WebRtcCall:
    caller = WebRtcCall(asyncio.get_running_loop(), Direction.OUTBOUND, "webrtc:test")
    answer = await gateway.answer(await caller.offer(), "qa-tester")
    await caller.accept(answer.sdp)
    assert await caller.wait_connected(10), "media did not connect over loopback"
    caller.session.mark_answered()
    return caller
