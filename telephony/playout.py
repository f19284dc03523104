"""Thread-safe playout buffer between the asyncio agent and pjsip's media clock thread.

The agent writes PCM as fast as it is synthesized; the clock thread takes one 20 ms
frame per tick, so audio leaves at exactly real-time pace. Markers written alongside the
audio fire when the frame holding them is handed to pjsip (e.g. "first frame of this
reply sent", "reply finished"); ``clear()`` implements barge-in in one tick."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telephony.audio import FRAME_BYTES, SILENT_FRAME


@dataclass(frozen=True, slots=True)
class PlayoutMark:
    """Something to report when playback reaches a point in the stream."""

    label: str
    payload: Any = None


MarkCallback = Callable[[PlayoutMark, bool], None]  # (mark, reached) -- reached=False when cleared


class PlayoutBuffer:
    def __init__(self, on_mark: MarkCallback | None = None, max_seconds: float = 120.0) -> None:
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._read_total = 0  # bytes handed to pjsip since creation
        self._marks: deque[tuple[int, PlayoutMark]] = deque()
        self._on_mark = on_mark
        self._max_bytes = int(max_seconds * 16000 * 2)
        self.frames_sent = 0
        self.frames_played = 0  # frames with agent audio (not fill silence)

    def set_on_mark(self, on_mark: MarkCallback | None) -> None:
        self._on_mark = on_mark

    def write(self, pcm: bytes, mark: PlayoutMark | None = None, start_mark: PlayoutMark | None = None) -> None:
        """Queue PCM (any length). ``start_mark`` fires when its first frame is sent,
        ``mark`` once its last byte has been sent."""
        if len(pcm) % 2:
            raise ValueError("PCM must be whole 16-bit samples")
        with self._lock:
            if len(self._buffer) + len(pcm) > self._max_bytes:
                raise OverflowError("playout buffer full")
            if start_mark is not None:
                first = min(len(pcm), FRAME_BYTES)
                self._marks.append((self._read_total + len(self._buffer) + first, start_mark))
            self._buffer += pcm
            if mark is not None:
                self._marks.append((self._read_total + len(self._buffer), mark))

    def mark(self, mark: PlayoutMark) -> None:
        """A mark at the current end of the queued audio (fires at once if nothing is queued)."""
        self.write(b"", mark)

    def clear(self) -> int:
        """Drop everything queued; returns milliseconds of audio discarded. Pending marks fire unreached."""
        with self._lock:
            dropped = len(self._buffer)
            self._buffer.clear()
            marks = list(self._marks)
            self._marks.clear()
        for _, mark in marks:
            self._fire(mark, False)
        return dropped // 32

    @property
    def queued_ms(self) -> int:
        with self._lock:
            return len(self._buffer) // 32

    @property
    def is_playing(self) -> bool:
        with self._lock:
            return bool(self._buffer)

    def next_frame(self) -> bytes:
        """Called on the media clock thread every 20 ms: never blocks, never raises."""
        due: list[PlayoutMark] = []
        with self._lock:
            if self._buffer:
                frame = bytes(self._buffer[:FRAME_BYTES])
                del self._buffer[:FRAME_BYTES]
                self._read_total += len(frame)
                if len(frame) < FRAME_BYTES:
                    frame += bytes(FRAME_BYTES - len(frame))
                self.frames_played += 1
            else:
                frame = SILENT_FRAME
            while self._marks and self._marks[0][0] <= self._read_total:
                due.append(self._marks.popleft()[1])
            self.frames_sent += 1
        for mark in due:
            self._fire(mark, True)
        return frame

    def _fire(self, mark: PlayoutMark, reached: bool) -> None:
        if self._on_mark is not None:
            try:
                self._on_mark(mark, reached)
            except Exception:  # noqa: BLE001 - a bad callback must never kill the clock thread
                pass
