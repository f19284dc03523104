"""The asyncio face of one SIP call: caller audio in, agent audio out, events, hang-up.

Everything pjsip does happens on its own threads; this object is only ever mutated on
the event loop (the pjsip side reaches it through ``loop.call_soon_threadsafe``), so the
agent can treat a call as plain asyncio data."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from telephony.audio import FRAME_MS
from telephony.frames import AudioIn, DtmfDigit, Hangup, PlaybackMark
from telephony.playout import PlayoutBuffer, PlayoutMark


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass
class CallStats:
    frames_received: int = 0
    frames_dropped: int = 0  # caller audio the agent could not keep up with
    codec: str = ""


class CallSession:
    AUDIO_QUEUE_FRAMES = 500  # 10 s of caller audio; beyond it the oldest frames are dropped (and counted)

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        direction: Direction,
        remote_uri: str = "",
        sip_call_id: str = "",
        call_id: str | None = None,
    ) -> None:
        self.loop = loop
        # Unique across worker processes, and carries nothing about the caller.
        self.call_id = call_id or f"{direction.value[:2]}-{secrets.token_hex(5)}"
        self.direction = direction
        self.remote_uri = remote_uri  # PHI: the caller's number; log only under the 'caller' key
        self.sip_call_id = sip_call_id
        # The far end's own id for this call, where it names one: a browser call placed through the
        # console gets the console's call id (its review page) in the answer.
        self.peer_call_id = ""
        self.audio: asyncio.Queue[AudioIn] = asyncio.Queue()
        self.events: asyncio.Queue[DtmfDigit | Hangup] = asyncio.Queue()
        self.playout = PlayoutBuffer(on_mark=self._mark_from_clock_thread)
        self.answered = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.status_code = 0
        self.stats = CallStats()
        self.answered_monotonic: float | None = None
        self._hangup_hook: Callable[[str], Awaitable[None]] | None = None
        self._dtmf_hook: Callable[[str], Awaitable[None]] | None = None
        self._transfer_hook: Callable[[str], Awaitable[None]] | None = None
        self._transfer_result: asyncio.Future[int] | None = None
        self._relay_to: CallSession | None = None

    # ---- called by the pjsip side (already marshalled onto the loop) ---------------------
    def bind(
        self, hangup: Callable[[str], Awaitable[None]], dtmf: Callable[[str], Awaitable[None]],
        transfer: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._hangup_hook, self._dtmf_hook, self._transfer_hook = hangup, dtmf, transfer

    def transfer_progress(self, status: int, final: bool) -> None:
        """A NOTIFY about the transfer (or the REFER's own failure): the caller's side reports how
        its call to the target is going. The first final status settles ``transfer()``."""
        future = self._transfer_result
        if future is not None and not future.done() and (final or status >= 200):
            future.set_result(status)

    def push_audio_threadsafe(self, frame: bytes) -> None:
        """From the media clock thread: hand one received frame to the loop."""
        try:
            self.loop.call_soon_threadsafe(self.push_audio, frame)
        except RuntimeError:  # loop closed during shutdown
            pass

    def push_audio(self, frame: bytes) -> None:
        """On the loop (a transport that runs there, like WebRTC): one received 20 ms frame."""
        self.stats.frames_received += 1
        if self.audio.qsize() >= self.AUDIO_QUEUE_FRAMES:
            self.audio.get_nowait()
            self.stats.frames_dropped += 1
        self.audio.put_nowait(AudioIn(frame, self.call_time))
        relay = self._relay_to
        if relay is not None and not relay.ended.is_set():
            try:
                relay.playout.write(frame)
            except OverflowError:  # the other leg stopped taking audio; it is ending
                pass

    def relay_audio_to(self, other: CallSession | None) -> None:
        """Also play every frame this caller sends into ``other``'s call (None: stop). Two legs
        relayed both ways are a bridge for legs that pjmedia's conference bridge does not hold
        (a browser call put through to a SIP operator)."""
        self._relay_to = other

    def mark_answered(self) -> None:
        if not self.answered.is_set():
            self.answered_monotonic = time.monotonic()
            self.answered.set()

    def mark_ended(self, reason: str, status_code: int = 0) -> None:
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.status_code = status_code
        self.ended.set()
        self.events.put_nowait(Hangup(call_time=self.call_time, reason=reason))
        self.playout.clear()

    def push_dtmf(self, digit: str, duration_ms: int = 0) -> None:
        self.events.put_nowait(DtmfDigit(digit=digit, call_time=self.call_time, duration_ms=duration_ms))

    # ---- the agent's API -----------------------------------------------------------------
    @property
    def call_time(self) -> float:
        """Seconds of caller audio received so far: the clock segment times are on."""
        return self.stats.frames_received * FRAME_MS / 1000.0

    def play(self, pcm: bytes) -> asyncio.Future[PlaybackMark]:
        """Queue agent audio (it leaves at real-time pace); the future resolves when its
        first frame is handed to pjsip, or unreached if playback is cleared first."""
        future: asyncio.Future[PlaybackMark] = self.loop.create_future()
        if self.ended.is_set():
            future.set_result(PlaybackMark(False, time.monotonic()))
        else:
            self.playout.write(pcm, start_mark=PlayoutMark("start", future))
        return future

    def mark(self, label: str) -> asyncio.Future[PlaybackMark]:
        """A future resolved when playback reaches everything queued so far (or is cleared)."""
        future: asyncio.Future[PlaybackMark] = self.loop.create_future()
        if self.ended.is_set():  # nothing will play again: a mark queued now would never be reached
            future.set_result(PlaybackMark(False, time.monotonic()))
        else:
            self.playout.mark(PlayoutMark(label, future))
        return future

    def stop_playback(self) -> int:
        """Barge-in: drop queued agent audio. Returns the milliseconds discarded."""
        return self.playout.clear()

    @property
    def is_playing(self) -> bool:
        return self.playout.is_playing

    async def hangup(self, reason: str = "agent") -> None:
        if self.ended.is_set() or self._hangup_hook is None:
            return
        await self._hangup_hook(reason)

    async def transfer(self, target_uri: str, timeout_s: float) -> int:
        """Blind transfer (SIP REFER) of the caller to ``target_uri``. Returns the final status the
        caller's side reported for its call to the target (2xx: connected), or 0 when it never
        said within ``timeout_s`` or the REFER could not be sent."""
        if self.ended.is_set() or self._transfer_hook is None:
            return 0
        self._transfer_result = self.loop.create_future()
        await self._transfer_hook(target_uri)
        try:
            return await asyncio.wait_for(asyncio.shield(self._transfer_result), timeout_s)
        except TimeoutError:
            return 0

    async def send_dtmf(self, digits: str) -> None:
        if self._dtmf_hook is None:
            raise RuntimeError("call has no media yet")
        await self._dtmf_hook(digits)

    def _mark_from_clock_thread(self, mark: PlayoutMark, reached: bool) -> None:
        now = time.monotonic()
        future = mark.payload
        if isinstance(future, asyncio.Future):
            try:
                self.loop.call_soon_threadsafe(_resolve, future, PlaybackMark(reached, now))
            except RuntimeError:
                pass


def _resolve(future: asyncio.Future[PlaybackMark], value: PlaybackMark) -> None:
    if not future.done():
        future.set_result(value)
