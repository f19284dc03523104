"""The custom pjsua2 ``AudioMediaPort`` that carries a call's audio across to asyncio.

It joins pjmedia's conference bridge at 16 kHz / 16-bit / mono / 20 ms; pjmedia converts
to and from the negotiated codec (G.711 at 8 kHz, G.722 at 16 kHz). Both callbacks run
on the media clock thread, so they only copy bytes and return: received frames go to
the loop with ``call_soon_threadsafe``, frames to send come from a ``PlayoutBuffer``."""

from __future__ import annotations

from collections.abc import Callable

import pjsua2 as pj

from telephony.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SILENT_FRAME
from telephony.byte_vector import read_byte_vector, to_byte_vector
from telephony.playout import PlayoutBuffer


def port_format() -> pj.MediaFormatAudio:
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = SAMPLE_RATE
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = FRAME_MS * 1000
    return fmt


def _discard(_frame: bytes) -> None:
    pass


class CallAudioPort(pj.AudioMediaPort):
    """Ports are pooled, never destroyed mid-run: pjsua2's SWIG layer releases the GIL in the
    C++ destructor, so a port freed while the clock thread calls into it ends in a crash
    (seen under load). ``bind``/``unbind`` move a port between calls instead."""

    def __init__(self) -> None:
        super().__init__()
        self._on_frame: Callable[[bytes], None] = _discard
        self._playout: PlayoutBuffer | None = None

    def bind(self, on_frame: Callable[[bytes], None], playout: PlayoutBuffer) -> None:
        self._on_frame, self._playout = on_frame, playout

    def unbind(self) -> None:
        self._on_frame, self._playout = _discard, None

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or frame.size == 0:
            return
        pcm = read_byte_vector(frame.buf)
        if len(pcm) != FRAME_BYTES:
            pcm = (pcm + bytes(FRAME_BYTES))[:FRAME_BYTES]
        self._on_frame(pcm)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        playout = self._playout
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = to_byte_vector(playout.next_frame() if playout is not None else SILENT_FRAME)
        frame.size = FRAME_BYTES


class PortPool:
    """Idle ``CallAudioPort``s for reuse (pjsip thread only)."""

    def __init__(self) -> None:
        self._idle: list[CallAudioPort] = []
        self._all: list[CallAudioPort] = []

    def acquire(self, on_frame: Callable[[bytes], None], playout: PlayoutBuffer) -> CallAudioPort:
        if self._idle:
            port = self._idle.pop()
        else:
            port = CallAudioPort()
            port.createPort(f"bedside-port-{len(self._all)}", port_format())
            self._all.append(port)
        port.bind(on_frame, playout)
        return port

    def release(self, port: CallAudioPort) -> None:
        port.unbind()
        if port not in self._idle:
            self._idle.append(port)

    def clear(self) -> None:
        """Only once the conference clock has stopped (see SipEndpoint shutdown)."""
        for port in self._all:
            port.unbind()
        self._idle.clear()
        self._all.clear()
