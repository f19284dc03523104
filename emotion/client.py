"""A call's emotion client: one WebSocket to the emotion service, and it never slows the call.

* The producers (the media path's 2-s segments, the STT's transcripts) call :meth:`submit` and
  :meth:`submit_transcript`, which never wait: bounded queues (5 segments, 20 transcripts) drop
  the newest item when full and count it (``emotion_audio_dropped`` / ``emotion_text_dropped``).
* One sender task sends an item, waits up to ``timeout_s`` for its answer, feeds the answer into
  the call's :class:`~emotion.window.RollingWindow` (each reading weighted by the model's
  confidence, a burst read as its type and its meaning: emotion/readings.py) and emits an
  :class:`EmotionUpdate`.
* Failures (a timeout, an error answer, a disconnect, a refused connection) go to the
  :class:`~emotion.breaker.CircuitBreaker`: two in a row open it for 10 s, during which nothing is
  sent and the call runs on the workspace defaults (an update with ``available=False``); then one
  half-open probe. Reconnects back off exponentially (0.5 s doubling to 10 s).
* After a timeout the connection is dropped, so a late answer can never be taken for a newer one.

Every number is in :class:`emotion.config.ClientConfig`."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from emotion.breaker import BreakerState, BreakerTransition, CircuitBreaker
from emotion.burst_meaning import BurstMeaning
from emotion.config import ClientConfig, WindowConfig
from emotion.events import Channel, EmotionUpdate, Reading, UpdateSource
from emotion.meter import Meter, NullMeter
from emotion.protocol import encode_audio_request, encode_text_request
from emotion.readings import UNSURE, burst_reading, clip, evidence, named_emotion
from emotion.timeline import SegmentEntry, Timeline, UtteranceEntry
from emotion.window import RollingWindow
from telephony.audio import SAMPLE_RATE, rms_dbfs
from telephony.frames import Segment

UPDATES_KEPT = 64  # emotion states waiting for the call's turn loop; older ones are dropped first
SILENT_DBFS = -55.0  # segments quieter than this are not sent (the models would answer "no signal")


class _Failure(Exception):
    pass


@dataclass(frozen=True)
class _AudioItem:
    pcm: bytes
    begin_s: float
    end_s: float


@dataclass(frozen=True)
class _TextItem:
    text: str
    at_s: float


def wav_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


class EmotionClient:
    def __init__(
        self,
        call_id: str,
        url: str | None,
        bursts: Mapping[str, BurstMeaning],
        config: ClientConfig | None = None,
        window: RollingWindow | None = None,
        metrics: Meter | None = None,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.call_id = call_id
        self.url = url
        self.bursts = bursts
        self.config = config or ClientConfig()
        self.window = window or RollingWindow()
        self.metrics = metrics or NullMeter()
        self.updates: asyncio.Queue[EmotionUpdate] = asyncio.Queue(UPDATES_KEPT)  # the call's turn loop drains it
        self.token = token
        self.clock = clock
        self.log = structlog.get_logger(component="emotion.client", call_id=call_id)
        self.timeline = Timeline(call_id)
        self.breaker = CircuitBreaker(
            self.config.breaker.failure_threshold, self.config.breaker.open_s, clock=clock, on_transition=self._on_transition
        )
        self._audio: asyncio.Queue[_AudioItem] = asyncio.Queue(self.config.audio_queue)
        self._text: asyncio.Queue[_TextItem] = asyncio.Queue(self.config.text_queue)
        self._wake = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._backoff_s = 0.0
        self._next_connect_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._now_s = 0.0  # latest call time seen (segment end / transcript time)
        self.latest: EmotionUpdate = self.window.defaults_update(call_id, 0.0)
        self.sent = self.answered = 0
        self.enabled = url is not None  # emotion off: nothing is sent, the call runs on the defaults

    @property
    def window_config(self) -> WindowConfig:
        return self.window.config

    # -- producers: never block ---------------------------------------------------------------------
    def submit(self, call_id: str, segment: Segment) -> bool:
        """A 2-s segment from the media path (the agent's SegmentSink seam); False if it was not
        queued (silent, or the queue was full)."""
        if rms_dbfs(segment.pcm) < SILENT_DBFS:
            return False
        return self._offer(self._audio, _AudioItem(segment.pcm, segment.start_time, segment.end_time), "emotion_audio_dropped")

    def submit_transcript(self, text: str, at_s: float) -> bool:
        if not text.strip():
            return False
        return self._offer(self._text, _TextItem(text, at_s), "emotion_text_dropped")

    def _offer(self, queue: asyncio.Queue, item: _AudioItem | _TextItem, dropped: str) -> bool:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            self.metrics.inc(dropped)
            return False
        self._wake.set()
        return True

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"emotion-{self.call_id}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._drop_connection()

    # -- the sender ------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            item = await self._next_item()
            if not self.enabled:
                continue
            if not self.breaker.allow():
                self.metrics.inc("emotion_skipped_breaker_open")
                continue
            started = time.perf_counter()
            try:
                reply = await self._exchange(item)
            except _Failure as failure:
                self.metrics.inc("emotion_failures")
                self.log.info("emotion_failure", reason=str(failure), breaker=str(self.breaker.state))
                self.breaker.record_failure(str(failure))
                continue
            self.metrics.observe_ms("emotion_roundtrip_ms", (time.perf_counter() - started) * 1000.0)
            self.breaker.record_success()
            self.answered += 1
            self._apply(item, reply)

    async def _next_item(self) -> _AudioItem | _TextItem:
        while self._audio.empty() and self._text.empty():
            self._wake.clear()
            await self._wake.wait()
        return self._text.get_nowait() if not self._text.empty() else self._audio.get_nowait()

    async def _connection(self) -> ClientConnection:
        if self._ws is not None:
            return self._ws
        wait = self._next_connect_at - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
        headers = {"X-Hume-Api-Key": self.token} if self.token else None
        assert self.url is not None
        try:
            self._ws = await connect(
                self.url, open_timeout=self.config.connect_timeout_s, additional_headers=headers, proxy=None,
                compression=None, max_size=2**22,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self._backoff_s = min(self.config.backoff_max_s, max(self.config.backoff_initial_s, self._backoff_s * 2))
            self._next_connect_at = self.clock() + self._backoff_s
            raise _Failure(f"connect failed ({type(exc).__name__}); next try in {self._backoff_s:.1f} s") from None
        self._backoff_s = 0.0
        self.log.info("emotion_connected")
        return self._ws

    async def _drop_connection(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), timeout=1.0)
            except (TimeoutError, ConnectionClosed, OSError):
                pass

    async def _exchange(self, item: _AudioItem | _TextItem) -> dict[str, Any]:
        ws = await self._connection()
        payload_id = f"{self.call_id}-{next(self._ids)}"
        if isinstance(item, _AudioItem):
            message = encode_audio_request(wav_bytes(item.pcm), payload_id)
        else:
            message = encode_text_request(item.text, payload_id)
        try:
            await ws.send(message)
            self.sent += 1
            raw = await asyncio.wait_for(ws.recv(), timeout=self.config.timeout_s)
        except TimeoutError:
            await self._drop_connection()  # a late answer must never be read as the next one's
            raise _Failure(f"no answer within {self.config.timeout_s:g} s") from None
        except (ConnectionClosed, OSError) as exc:
            self._ws = None
            raise _Failure(f"disconnected ({type(exc).__name__})") from None
        try:
            reply = json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            await self._drop_connection()
            raise _Failure("answer is not JSON") from None
        if not isinstance(reply, dict) or reply.get("payload_id") != payload_id:
            await self._drop_connection()
            raise _Failure("answer does not match the request")
        if "error" in reply:
            raise _Failure(f"service error {reply.get('code')}: {reply.get('error')}")
        return reply

    # -- answers -> readings -> window -> update -----------------------------------------------------
    def _apply(self, item: _AudioItem | _TextItem, reply: dict[str, Any]) -> None:
        if isinstance(item, _AudioItem):
            self._apply_audio(item, reply)
            now = item.end_s
        else:
            self._apply_text(item, reply)
            now = item.at_s
        self._now_s = max(self._now_s, now)
        self._emit(self.window.update(self.call_id, self._now_s))

    def _apply_audio(self, item: _AudioItem, reply: dict[str, Any]) -> None:
        prosody = reply.get("prosody", {}).get("predictions", [])
        bursts = reply.get("burst", {}).get("predictions", [])
        for p, b in itertools.zip_longest(prosody, bursts):
            ref = p or b
            begin = item.begin_s + ref["time"]["begin"]
            at = item.begin_s + ref["time"]["end"]
            emotions = {e["name"]: e["score"] for e in p["emotions"]} if p else {}
            burst_scores = {e["name"]: e["score"] for e in b["emotions"]} if b else {}
            burst_type = b.get("type", "none") if b else "none"
            burst_score = float(burst_scores.get(burst_type, 0.0))
            scored = bool(p) and not p.get("no_signal")
            if scored:
                top = tuple(sorted(emotions.items(), key=lambda kv: -kv[1])[:3])
                self.window.add(Reading(Channel.PROSODY, at, clip(p["valence"], -1, 1), clip(p["arousal"], 0, 1),
                                        evidence(p), top))
            meaning = self.bursts.get(burst_type)
            if meaning is not None and burst_score >= self.window_config.burst_min_score:
                valence, arousal, top_affect = burst_reading(meaning, b)
                self.window.add(
                    Reading(Channel.BURST, at, valence, arousal, clip(burst_score, 0, 1), burst=burst_type, meaning=top_affect)
                )
            self.timeline.segments.append(
                SegmentEntry(
                    begin, at, emotions,
                    float(p["valence"]) if p else 0.0, float(p["arousal"]) if p else 0.0,
                    burst_type if meaning is not None else "none", burst_score,
                    tuple(p.get("embedding", ())) if p else (),
                    named_emotion(emotions, self.window_config.named_min_probability) if scored else UNSURE,
                )
            )

    def _apply_text(self, item: _TextItem, reply: dict[str, Any]) -> None:
        for p in reply.get("language", {}).get("predictions", []):
            emotions = {e["name"]: e["score"] for e in p["emotions"]}
            top = tuple(sorted(emotions.items(), key=lambda kv: -kv[1])[:3])
            self.window.add(Reading(Channel.LANGUAGE, item.at_s, clip(p["valence"], -1, 1), clip(p["arousal"], 0, 1),
                                    evidence(p), top))
            toxicity = {e["name"]: e["score"] for e in p.get("toxicity", [])}
            self.timeline.utterances.append(UtteranceEntry(item.at_s, p["valence"], p["arousal"], top, toxicity))

    def _emit(self, update: EmotionUpdate) -> None:
        self.latest = update
        self.timeline.states.append(update)
        self.log.debug("emotion_update", **update.as_dict())
        if self.updates.full():  # nobody is reading (or far behind): the newest state is what counts
            self.updates.get_nowait()
        self.updates.put_nowait(update)

    def _on_transition(self, t: BreakerTransition) -> None:
        self.timeline.breaker.append({"at_s": round(self._now_s, 3), "from": str(t.before), "to": str(t.after), "reason": t.reason})
        self.log.info("emotion_breaker", before=str(t.before), after=str(t.after), reason=t.reason)
        if t.after is BreakerState.OPEN and t.before is BreakerState.CLOSED:
            self.metrics.inc("emotion_breaker_opened")
            self._emit(self.window.defaults_update(self.call_id, self._now_s))
        elif t.after is BreakerState.CLOSED:
            self._emit(self.window.update(self.call_id, self._now_s, UpdateSource.RECOVERED))
