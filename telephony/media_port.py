"""The custom pjsua2 ``AudioMediaPort`` that carries a call's audio across to asyncio.

It joins pjmedia's conference bridge at 16 kHz / 16-bit / mono / 20 ms; pjmedia converts
to and from the negotiated codec (G.711 at 8 kHz, G.722 at 16 kHz). Both callbacks run
on the media clock thread, so they only copy bytes and return: received frames go to
the loop with ``call_soon_threadsafe``, frames to send come from a ``PlayoutBuffer``."""

from __future__ import annotations

from collections.abc import Callable

import pjsua2 as pj

from telephony.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
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


class CallAudioPort(pj.AudioMediaPort):
    def __init__(self, on_frame: Callable[[bytes], None], playout: PlayoutBuffer) -> None:
        super().__init__()
        self._on_frame = on_frame
        self._playout = playout

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or frame.size == 0:
            return
        pcm = read_byte_vector(frame.buf)
        if len(pcm) != FRAME_BYTES:
            pcm = (pcm + bytes(FRAME_BYTES))[:FRAME_BYTES]
        self._on_frame(pcm)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2 API
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = to_byte_vector(self._playout.next_frame())
        frame.size = FRAME_BYTES
