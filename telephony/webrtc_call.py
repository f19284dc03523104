"""One browser call: an aiortc peer connection in front of a :class:`CallSession`.

The WebRTC twin of ``sip_call.py``: the call runtime sees the same session either way — the
caller's audio as 16 kHz 20 ms frames on ``session.audio``, the agent's audio written to
``session.playout`` and sent at real-time pace, DTMF, hang-up. Opus (or G.711) at 48/8 kHz is
aiortc's business; this module resamples at the edges. aiortc runs on the event loop, so unlike
pjsip nothing here crosses threads.

The calling side opens a data channel (``bedside``) with its offer. Either side may send
``{"type": "dtmf", "digits": "12#"}`` and ``{"type": "hangup", "reason": ...}``; the agent's side
also sends the live call state (``send``), which the calling side keeps in ``received``.

Both roles are here: the agent answers (``answer``), and ``bedside call --webrtc`` and the
WebRTC latency bench call (``offer`` then ``accept``), as a page does."""

from __future__ import annotations

import asyncio
import fractions
import json
import re
from collections import deque
from typing import Any

import structlog
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription
from av import AudioFrame, AudioResampler

from telephony.audio import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE
from telephony.call_session import CallSession, Direction
from telephony.playout import PlayoutBuffer

CHANNEL_LABEL = "bedside"
MAX_MESSAGE_BYTES = 1024  # a page's message is a few dozen bytes; anything longer is refused unread
PENDING_MESSAGES = 200  # live-state messages kept while the channel opens; the oldest go first
MAX_LAG_S = 0.2  # the sender fell this far behind (a stalled loop): resume from now instead of bursting
HANGUP_FLUSH_S = 0.5  # how long the agent's "hangup" message may take to leave before the connection closes
_DIGITS = re.compile(r"[0-9*#A-D]{1,32}")


class PlayoutTrack(MediaStreamTrack):
    """The agent's voice: one 20 ms frame from the playout buffer per tick, at real-time pace
    (aiortc sends each frame the moment ``recv`` returns it)."""

    kind = "audio"

    def __init__(self, playout: PlayoutBuffer) -> None:
        super().__init__()
        self._playout = playout
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / SAMPLE_RATE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -MAX_LAG_S:
                self._start -= wait
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(self._playout.next_frame())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        return frame


class WebRtcCall:
    """The peer connection, the session the agent uses, and the page's data channel."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, direction: Direction, remote_uri: str, jitter_prefetch: int = 1,
    ) -> None:
        """``INBOUND``: the agent's side, answering a page; ``OUTBOUND``: calling, as a page does.
        ``jitter_prefetch``: received frames held before the oldest is decoded (see _hold_frames)."""
        self.session = CallSession(loop, direction, remote_uri=remote_uri)
        self.session.stats.codec = "opus"
        self.log = structlog.get_logger(component="webrtc.call", call_id=self.session.call_id)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # host candidates only: no STUN/TURN to reach
        self.track = PlayoutTrack(self.session.playout)
        self.connected = asyncio.Event()
        self.channel: Any = None  # aiortc's RTCDataChannel: the caller's own, or the one its offer opened
        self.received: deque[dict[str, Any]] = deque(maxlen=PENDING_MESSAGES)  # calling side: the live state
        self._pending: deque[str] = deque(maxlen=PENDING_MESSAGES)
        self._receiver: asyncio.Task[None] | None = None
        self._closing = False
        self.refused_messages = 0
        self.jitter_prefetch = jitter_prefetch
        self.session.bind(hangup=self._hang_up, dtmf=self._send_dtmf)
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_channel)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # ---- signalling --------------------------------------------------------------------------
    async def offer(self) -> str:
        """The calling side: the offer to send (audio both ways and the data channel; every ICE
        candidate is in it)."""
        self._hold_frames(self.pc.addTransceiver(self.track, direction="sendrecv").receiver)
        self._use_channel(self.pc.createDataChannel(CHANNEL_LABEL))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        """The calling side: the agent's answer. ValueError for an unusable one."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        self._note_codec(answer_sdp)

    async def answer(self, offer_sdp: str) -> str:
        """Take the browser's offer and return the answer, ICE candidates included (aiortc
        gathers them all before it returns: no trickle). ValueError for an unusable offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise ValueError("the offer has no audio")
        self._hold_frames(audio[0].receiver)
        audio[0].sender.replaceTrack(self.track)
        audio[0].direction = "sendrecv"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._note_codec(self.pc.localDescription.sdp)
        return self.pc.localDescription.sdp

    def _hold_frames(self, receiver: Any) -> None:
        """aiortc's audio jitter buffer decodes a frame only once 4 more have arrived (80 ms),
        fixed. It paces nothing (frames leave as packets come in), so its wait is pure delay:
        the agent's side listens rather than plays, and a late packet is put in order whatever
        the wait (the buffer holds its place until it comes or the buffer is full). So the buffer
        is replaced by one of the same kind that waits ``jitter_prefetch`` frames: 1, the least
        (a frame is known whole when the next one starts). aiortc has no setting for it; the
        pinned version's receiver keeps it in a private attribute, and a test holds it there."""
        attribute = "_RTCRtpReceiver__jitter_buffer"
        current = getattr(receiver, attribute, None)
        if isinstance(current, JitterBuffer):
            setattr(receiver, attribute, JitterBuffer(capacity=current.capacity, prefetch=self.jitter_prefetch))
        else:
            self.log.warning("webrtc_jitter_buffer_not_found", aiortc_receiver=type(receiver).__name__)

    def _note_codec(self, answer_sdp: str) -> None:
        """The codec the answer chose (its audio section's first)."""
        for media in SessionDescription.parse(answer_sdp).media:
            if media.kind == "audio" and media.rtp.codecs:
                self.session.stats.codec = media.rtp.codecs[0].mimeType.split("/", 1)[1].lower()
                return

    async def wait_connected(self, timeout_s: float) -> bool:
        """True once ICE and DTLS are up; False if that took longer than ``timeout_s`` or failed."""
        waiting = asyncio.ensure_future(self.connected.wait())
        ended = asyncio.ensure_future(self.session.ended.wait())
        try:
            await asyncio.wait({waiting, ended}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            ended.cancel()
        return self.connected.is_set() and not self.session.ended.is_set()

    # ---- the data channel and the caller's audio --------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        """A message to the other side (kept, oldest dropped first, while the channel opens)."""
        text = json.dumps(message, separators=(",", ":"))
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(text)
        elif not self._closing:
            self._pending.append(text)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._receiver is None:
            self._receiver = asyncio.ensure_future(self._receive(track))

    async def _receive(self, track: MediaStreamTrack) -> None:
        """The caller's audio, resampled to 16 kHz mono and cut into 20 ms frames."""
        resampler = AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pending = bytearray()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            for out in resampler.resample(frame):
                pending += out.to_ndarray().tobytes()
            while len(pending) >= FRAME_BYTES:
                self.session.push_audio(bytes(pending[:FRAME_BYTES]))
                del pending[:FRAME_BYTES]
        if not self._closing:
            asyncio.ensure_future(self.close("remote"))

    def _on_channel(self, channel: Any) -> None:
        if channel.label != CHANNEL_LABEL or self.channel is not None:
            channel.close()
            return
        self._use_channel(channel)

    def _use_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("open", self._flush)
        if channel.readyState == "open":
            self._flush()

    def _flush(self) -> None:
        while self._pending and self.channel is not None and self.channel.readyState == "open":
            self.channel.send(self._pending.popleft())

    def _on_message(self, message: str | bytes) -> None:
        """The other side's messages. The agent's side takes only hang-up and DTMF; anything else
        it counts and ignores (never echoed or logged). The calling side keeps the live state."""
        answering = self.session.direction is Direction.INBOUND
        try:
            if answering and len(message) > MAX_MESSAGE_BYTES:
                raise ValueError("too long")
            request = json.loads(message)
            kind = request["type"]
        except (ValueError, TypeError, KeyError):
            self.refused_messages += 1
            return
        if not answering:
            self.received.append(request)
        if kind == "hangup":
            asyncio.ensure_future(self.close("remote"))
        elif kind == "dtmf" and answering:
            digits = request.get("digits")
            if isinstance(digits, str) and _DIGITS.fullmatch(digits):
                for digit in digits:
                    self.session.push_dtmf(digit)
            else:
                self.refused_messages += 1
        elif answering:
            self.refused_messages += 1

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self.connected.set()
        elif state in ("failed", "closed") and not self._closing:
            # "failed": ICE consent lapsed (the tab or the network went away)
            asyncio.ensure_future(self.close("remote" if state == "closed" else "media timeout"))

    # ---- hanging up ----------------------------------------------------------------------------
    async def _hang_up(self, reason: str) -> None:
        """This side ends the call: the other side is told first, then the connection closes."""
        self.session.mark_ended(reason)  # first: the other side closing meanwhile must not rename it "remote"
        self.send({"type": "hangup", "reason": reason})
        deadline = asyncio.get_running_loop().time() + HANGUP_FLUSH_S
        while (self.channel is not None and self.channel.readyState == "open" and self.channel.bufferedAmount
               and asyncio.get_running_loop().time() < deadline):
            await asyncio.sleep(0.02)
        await self.close(reason)

    async def _send_dtmf(self, digits: str) -> None:
        self.send({"type": "dtmf", "digits": digits})  # to the agent: keypad presses; to a page: shown

    async def close(self, reason: str) -> None:
        """Hang up: the session ends with ``reason`` and the connection closes (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.session.mark_ended(reason)
        self.track.stop()
        await self.pc.close()
        if self._receiver is not None and not self._receiver.done():
            self._receiver.cancel()
            await asyncio.gather(self._receiver, return_exceptions=True)
        self.log.info("call_disconnected", reason=reason, transport="webrtc", frames_sent=self.session.playout.frames_sent,
                      frames_received=self.session.stats.frames_received, refused_messages=self.refused_messages)


__all__ = ["CHANNEL_LABEL", "PlayoutTrack", "WebRtcCall"]
