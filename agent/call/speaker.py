"""Speaks agent replies into one call and knows when they started, ended or were cut off.

Scripted lines are played sentence by sentence from the pre-synthesized phrase cache (no
synthesis on the hot path); a sentence that is not cached (one with the caller's name in it)
and anything else (an LLM's sentences as they stream, an echo) is synthesized and queued
sentence by sentence, so the first sentence is
already playing while the rest is being synthesized. ``interrupt()`` is barge-in: it
stops the current reply within one 20 ms tick and drops sentences not yet queued.

Sentences with the caller's details that the next reply may start with (``AgentReply.ahead``:
"You're booked for Tuesday at 9 AM.") are synthesized once a reply is all queued, while it plays
and the caller answers, one at a time and only while the synthesizer has nothing else to do and
no caller on any call is waiting for a reply. They
are kept for this call only (they carry PHI) and replaced by the next reply's.

A reply worked out before the turn has ended (speculative navigation, agent/call/call_agent.py)
has its first sentence synthesized at once (``prepare_head``); the reply that follows plays it if
it starts with that sentence, and otherwise the synthesis is cancelled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import structlog

from agent.call.responder import AgentReply
from telephony.call_session import CallSession
from telephony.frames import PlaybackMark
from tts.expression import Expression
from tts.sentences import split_sentences
from tts.synthesizer import VoiceParams

log = structlog.get_logger(component="speaker")


class PhraseSource(Protocol):
    def get(self, text: str, params: VoiceParams | None = None) -> bytes | None: ...


class StreamSource(Protocol):
    def params_for(self, expression: Expression | None) -> VoiceParams: ...

    def pause(self, params: VoiceParams | None = None) -> bytes: ...

    def stream(self, text: str, params: VoiceParams | None = None) -> AsyncIterator[bytes]: ...

    @property
    def busy(self) -> bool:
        """Synthesis is queued or running: preparing ahead waits."""
        ...


class ReplySource(StrEnum):
    """Where a reply's first sentence comes from: what its first audio waits for."""

    CACHED = "cached"  # a fixed sentence pre-synthesized at start-up: plays at once
    PREPARED = "prepared"  # a sentence with the caller's details, synthesized while they answered
    SPECULATED = "speculated"  # synthesized from the transcript of the caller's pause, before the turn ended
    SYNTHESIZED = "synthesized"  # synthesized now: it carries the caller's details (or is an echo)
    WORDED = "worded"  # the LLM's wording, synthesized sentence by sentence as it streams


@dataclass(frozen=True, slots=True)
class Spoken:
    label: str
    queued_at: float  # monotonic: audio for the first sentence handed to the playout buffer
    first_frame_at: float | None  # monotonic: first frame handed to pjsip (None if never)
    finished_at: float  # monotonic: played to the end, or interrupted
    interrupted: bool
    audio_ms: int


class _Playback:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False


class Speaker:
    def __init__(
        self, session: CallSession, phrases: PhraseSource, streamer: StreamSource, prepare_ahead: bool = True,
        others_waiting: Callable[[], bool] = lambda: False,
    ) -> None:
        """``prepare_ahead``: tts.prepare_ahead. ``others_waiting``: some caller (on any call) awaits
        a reply now (agent/call/turns_in_flight.py): preparing ahead waits for them too."""
        self._session = session
        self._phrases = phrases
        self._streamer = streamer
        self._prepare_ahead = prepare_ahead
        self._others_waiting = others_waiting
        self._current: _Playback | None = None
        self._prepared: dict[tuple[str, VoiceParams], bytes] = {}
        self._preparing: asyncio.Task[None] | None = None
        self._head: tuple[tuple[str, VoiceParams], asyncio.Task[bytes]] | None = None  # prepare_head's sentence

    @property
    def speaking(self) -> bool:
        return self._current is not None

    def interrupt(self) -> int:
        """Barge-in: stop what is playing now. Returns milliseconds of audio dropped."""
        if self._current is not None:
            self._current.cancelled = True
        return self._session.stop_playback()

    def source_of(self, reply: AgentReply) -> ReplySource:
        """What ``say(reply)`` will start with (for the turn's timings, per kind of reply)."""
        if reply.sentences is not None:
            return ReplySource.WORDED
        if not reply.scripted:
            return ReplySource.SYNTHESIZED
        first = next(iter(split_sentences(reply.text)), "")
        params = self._streamer.params_for(reply.expression)
        if self._phrases.get(first, params) is not None:
            return ReplySource.CACHED
        if (first, params) in self._prepared:
            return ReplySource.PREPARED
        return ReplySource.SPECULATED if self._head is not None and self._head[0] == (first, params) else ReplySource.SYNTHESIZED

    def prepare_head(self, reply: AgentReply) -> None:
        """Start synthesizing ``reply``'s first sentence now, if it is fixed wording that is neither
        cached nor prepared: the reply is likely but not certain (it was worked out before the
        caller's turn ended). A newer head replaces this one."""
        if reply.sentences is not None or not reply.scripted:
            self._drop_head()
            return
        first = split_sentences(reply.text)[0]
        params = self._streamer.params_for(reply.expression)
        if self._head is not None and self._head[0] == (first, params):
            return  # a later pause came to the same first sentence: its synthesis goes on
        self._drop_head()
        if self.source_of(reply) is ReplySource.SYNTHESIZED:
            self._head = ((first, params), asyncio.create_task(self._synthesize(first, params)))

    def _drop_head(self) -> None:
        if self._head is not None:
            self._head[1].cancel()
            self._head = None

    async def _synthesize(self, sentence: str, params: VoiceParams) -> bytes:
        return b"".join([chunk async for chunk in self._streamer.stream(sentence, params)])

    def prepare(self, sentences: tuple[str, ...], expression: Expression | None) -> None:
        """Synthesize ``sentences`` in the background for a reply to come (replacing what was
        prepared for the last one)."""
        self._stop_ahead()
        if sentences:
            self._preparing = asyncio.create_task(self._prepare(sentences, self._streamer.params_for(expression)))

    def stop_preparing(self) -> None:
        """Stop preparing and drop what was prepared (the call ended)."""
        self._stop_ahead()
        self._drop_head()

    def _stop_ahead(self) -> None:
        if self._preparing is not None and not self._preparing.done():
            self._preparing.cancel()
        self._preparing = None
        self._prepared = {}

    async def _prepare(self, sentences: tuple[str, ...], params: VoiceParams) -> None:
        try:
            for sentence in sentences:
                if self._phrases.get(sentence, params) is not None:
                    continue
                while self._streamer.busy or self._others_waiting():  # a live reply (any call's) goes first
                    await asyncio.sleep(0.02)
                pcm = await self._synthesize(sentence, params)
                if pcm:  # a sentence piper could not say is synthesized (and skipped) when it is due
                    self._prepared[(sentence, params)] = pcm
        except Exception:  # noqa: BLE001 - preparing is a head start; the reply synthesizes what is missing
            log.exception("prepare_ahead_failed", call_id=self._session.call_id, sentences=len(sentences))

    async def say(
        self, reply: AgentReply, label: str, on_first_audio: Callable[[float | None], None] | None = None
    ) -> Spoken:
        """Speak ``reply``; ``on_first_audio(monotonic)`` fires when its first frame is sent
        (with None if it never is), so timings are logged even if the reply is cut off."""
        playback = _Playback()
        if self._current is not None:
            self.interrupt()
        self._current = playback
        session = self._session
        first: asyncio.Future[PlaybackMark] | None = None
        queued_at = time.monotonic()
        audio_bytes = 0
        try:
            chunks = self._chunks(reply)
            async for chunk in chunks:
                if playback.cancelled or session.ended.is_set():
                    break
                started = session.play(chunk)
                audio_bytes += len(chunk)
                if first is None:
                    first, queued_at = started, time.monotonic()
                    if on_first_audio is not None:
                        started.add_done_callback(lambda f: on_first_audio(f.result().monotonic if f.result().reached else None))
            if self._prepare_ahead and not playback.cancelled:
                self.prepare(reply.ahead, reply.expression)  # all of it is queued: the worker is free
            end = await session.mark(f"{label}-end") if not playback.cancelled else PlaybackMark(False, time.monotonic())
        finally:
            if self._current is playback:
                self._current = None
        first_frame_at = None
        if first is not None and first.done() and first.result().reached:
            first_frame_at = first.result().monotonic
        return Spoken(
            label=label,
            queued_at=queued_at,
            first_frame_at=first_frame_at,
            finished_at=end.monotonic,
            interrupted=playback.cancelled or not end.reached,
            audio_ms=audio_bytes // 32,
        )

    @staticmethod
    async def _head_audio(task: asyncio.Task[bytes]) -> bytes | None:
        try:
            return await task or None
        except asyncio.CancelledError:
            if task.cancelled():
                return None  # dropped meanwhile: synthesize it now
            raise
        except Exception:  # noqa: BLE001 - a head start that failed: the sentence is synthesized now
            log.exception("prepare_head_failed")
            return None

    async def _chunks(self, reply: AgentReply) -> AsyncIterator[bytes]:
        # The reply's expression (chosen before its first word) shapes every sentence of it.
        params = self._streamer.params_for(reply.expression)
        if reply.sentences is not None:
            # Streamed wording (LLM): each sentence is synthesized as soon as it is complete, unless
            # it is cached -- the scripted line the LLM writer falls back to (a slow or dead LLM)
            # is the graph's own wording, so it plays from the phrase cache like a scripted reply.
            pause = b""
            async for sentence in reply.sentences:
                if pause:
                    yield pause
                cached = self._phrases.get(sentence, params) or self._prepared.get((sentence, params))
                if cached is not None:
                    yield cached
                else:
                    async for chunk in self._streamer.stream(sentence, params):
                        yield chunk
                pause = self._streamer.pause(params)
            return
        if not reply.scripted:
            async for chunk in self._streamer.stream(reply.text, params):
                yield chunk
            return
        # Fixed wording, sentence by sentence: cached sentences play at once, and only those that
        # are new (one with the caller's name in it) are synthesized. Pauses as in stream().
        sentences = split_sentences(reply.text)
        head, self._head = self._head, None
        if head is not None and (not sentences or head[0] != (sentences[0], params)):
            head[1].cancel()  # the turn came out otherwise
            head = None
        try:
            for index, sentence in enumerate(sentences):
                pause = self._streamer.pause(params) if index < len(sentences) - 1 else b""
                cached = self._phrases.get(sentence, params) or self._prepared.get((sentence, params))
                if cached is None and index == 0 and head is not None:
                    cached = await self._head_audio(head[1])
                if cached is not None:
                    yield cached + pause
                    continue
                async for chunk in self._streamer.stream(sentence, params):
                    yield chunk
                if pause:
                    yield pause
        finally:
            if head is not None:
                head[1].cancel()  # cut off before it played (a no-op once it has)
