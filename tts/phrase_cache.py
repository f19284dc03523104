"""LRU of pre-synthesized phrases (greetings, "one moment please", every line of the graph).

Fixed phrases are said on nearly every call; synthesizing them once at start-up removes
their latency entirely. Entries are keyed by the normalized text *and* everything else
that shapes the audio (voice and the expression's rendering settings), so switching settings
or expression can never replay audio made with the old ones. The cache is bounded both in
entries and in bytes of audio; the least recently used go first."""

from __future__ import annotations

import asyncio
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

import structlog

from tts.synthesizer import PiperSynthesizer, VoiceParams

log = structlog.get_logger(component="tts")

CacheKey = tuple[Hashable, ...]


def normalize_phrase(text: str) -> str:
    """Unicode NFC and single spaces; case and punctuation are kept because they change prosody."""
    return " ".join(unicodedata.normalize("NFC", text).split())


class PhraseCache:
    def __init__(self, synthesizer: PiperSynthesizer, max_entries: int | None = None, max_bytes: int | None = None,
                 on_added: Callable[[str, VoiceParams, bytes], None] | None = None) -> None:
        """``on_added``: told each new entry (normalized text, params, PCM); the model host shares
        them with the node's workers (tts/shared_phrases.py)."""
        self._synth = synthesizer
        self._on_added = on_added
        self.max_entries = synthesizer.config.cache_entries if max_entries is None else max_entries
        self.max_bytes = round(synthesizer.config.cache_mb * 1_000_000) if max_bytes is None else max_bytes
        self._entries: OrderedDict[CacheKey, bytes] = OrderedDict()
        self.bytes = 0  # audio held now
        self.evictions = 0
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
        if not pcm or self.max_entries <= 0 or len(pcm) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        self.bytes += len(pcm) - (len(old) if old is not None else 0)
        self._entries[key] = pcm
        if self._on_added is not None:
            self._on_added(str(key[0]), key[-1], pcm)  # type: ignore[arg-type] - the key ends with the VoiceParams
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= len(evicted)
            self.evictions += 1

    @property
    def full(self) -> bool:
        return len(self._entries) >= self.max_entries or self.bytes >= self.max_bytes

    async def warm(
        self, phrases: Iterable[str], params: VoiceParams | None = None, wait_while: Callable[[], bool] | None = None,
        stop_when_full: bool = False,
    ) -> int:
        """Pre-synthesize phrases; returns how many were synthesized (not already cached). One at
        a time: they share one worker anyway. With ``wait_while``, each phrase waits until it is
        false (background warming gives way to live calls, which need the worker first). With
        ``stop_when_full`` it stops at the size bound instead of evicting what was warmed first."""
        count = 0
        for phrase in phrases:
            while wait_while is not None and wait_while():
                await asyncio.sleep(0.25)
            if stop_when_full and self.full:
                log.warning("tts phrase cache full", entries=len(self._entries), mb=round(self.bytes / 1e6, 1))
                break
            if self.get(phrase, params) is None:
                await self.get_or_synthesize(phrase, params)
                count += 1
        log.info("tts phrase cache warmed", phrases=count, entries=len(self._entries), mb=round(self.bytes / 1e6, 1))
        return count

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.key(text) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0
