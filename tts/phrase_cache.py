"""LRU of pre-synthesized phrases (greetings, "one moment please", ...).

Fixed phrases are said on nearly every call; synthesizing them once at start-up removes
their latency entirely. Entries are keyed by the normalized text *and* everything else
that shapes the audio (voice, pace, noise, volume, pause), so switching settings or an
expressive preset can never replay audio made with the old ones."""

from __future__ import annotations

import asyncio
import unicodedata
from collections import OrderedDict
from collections.abc import Hashable, Iterable

from agent.logs import get_logger
from tts.synthesizer import PiperSynthesizer, VoiceParams

log = get_logger("tts")

CacheKey = tuple[Hashable, ...]


def normalize_phrase(text: str) -> str:
    """Unicode NFC and single spaces; case and punctuation are kept because they change prosody."""
    return " ".join(unicodedata.normalize("NFC", text).split())


class PhraseCache:
    def __init__(self, synthesizer: PiperSynthesizer, max_entries: int | None = None) -> None:
        self._synth = synthesizer
        self.max_entries = synthesizer.config.cache_entries if max_entries is None else max_entries
        self._entries: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._inflight: dict[CacheKey, asyncio.Task[bytes]] = {}
        self.hits = 0
        self.misses = 0  # == number of syntheses this cache started

    def key(self, text: str, params: VoiceParams | None = None) -> CacheKey:
        return (normalize_phrase(text), *self._synth.cache_key(params))

    def get(self, text: str, params: VoiceParams | None = None) -> bytes | None:
        """Cached audio or None; never synthesizes, does not touch the counters."""
        return self._entries.get(self.key(text, params))

    async def get_or_synthesize(self, text: str, params: VoiceParams | None = None) -> bytes:
        """Cached PCM for ``text``, synthesizing (off the event loop) on a miss. Concurrent
        requests for the same phrase share one synthesis."""
        key = self.key(text, params)
        cached = self._entries.get(key)
        if cached is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return cached
        task = self._inflight.get(key)
        if task is not None:
            self.hits += 1
        else:
            self.misses += 1
            task = asyncio.ensure_future(self._synth.synthesize_async(key[0], params))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        # shield: one waiter giving up (barge-in) must not cancel the others' synthesis
        return await asyncio.shield(task)

    def _finished(self, key: CacheKey, task: asyncio.Task[bytes]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return  # exception() also marks it retrieved; awaiters still see it
        pcm = task.result()
        if pcm and self.max_entries > 0:
            self._entries[key] = pcm
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    async def warm(self, phrases: Iterable[str], params: VoiceParams | None = None) -> None:
        """Pre-synthesize phrases (at start-up). One at a time: they share one worker anyway."""
        count = 0
        for phrase in phrases:
            await self.get_or_synthesize(phrase, params)
            count += 1
        log.info("tts phrase cache warmed", phrases=count, entries=len(self._entries))

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.key(text) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
