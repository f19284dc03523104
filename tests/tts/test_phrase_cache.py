"""PhraseCache: LRU behaviour with a fake synthesizer, then one real-voice check."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from tts.config import TtsConfig
from tts.expression import Expression, bundled_expressions
from tts.phrase_cache import PhraseCache, normalize_phrase
from tts.synthesizer import PiperSynthesizer, VoiceParams


class FakeSynth:
    """Stands in for PiperSynthesizer: same cache_key / synthesize_async surface, counts calls."""

    def __init__(self, config: TtsConfig | None = None, delay: float = 0.0) -> None:
        self.config = config or TtsConfig()
        self.params = VoiceParams.from_preset(bundled_expressions()[Expression.NEUTRAL], self.config)
        self.calls: list[str] = []
        self.delay = delay

    def cache_key(self, params: VoiceParams | None = None) -> tuple[object, ...]:
        return ("fake-voice", params or self.params)

    async def synthesize_async(self, text: str, params: VoiceParams | None = None) -> bytes:
        self.calls.append(text)
        await asyncio.sleep(self.delay)
        return f"{text}|{params or self.params}".encode() if text.strip() else b""


def make(max_entries: int | None = None, max_bytes: int | None = None, **kwargs) -> tuple[PhraseCache, FakeSynth]:
    synth = FakeSynth(**kwargs)
    return PhraseCache(synth, max_entries, max_bytes), synth  # type: ignore[arg-type]


async def test_hit_returns_same_bytes_without_resynthesis() -> None:
    cache, synth = make()
    first = await cache.get_or_synthesize("Please hold.")
    second = await cache.get_or_synthesize("Please hold.")
    assert second is first
    assert synth.calls == ["Please hold."]
    assert (cache.hits, cache.misses) == (1, 1)
    assert "Please hold." in cache and "Goodbye." not in cache and 42 not in cache


async def test_whitespace_is_normalized_case_is_not() -> None:
    cache, synth = make()
    await cache.get_or_synthesize("  Please   hold.\n")
    assert "Please hold." in cache
    await cache.get_or_synthesize("please hold.")
    assert synth.calls == ["Please hold.", "please hold."]
    assert normalize_phrase("a\u0301  b") == "\u00e1 b"


async def test_lru_eviction() -> None:
    cache, synth = make(max_entries=2)
    await cache.get_or_synthesize("one")
    await cache.get_or_synthesize("two")
    await cache.get_or_synthesize("one")  # refresh: "two" is now the oldest
    await cache.get_or_synthesize("three")
    assert "one" in cache and "three" in cache and "two" not in cache
    assert len(cache) == 2


async def test_default_size_comes_from_config_and_zero_disables() -> None:
    cache, _ = make(config=TtsConfig(cache_entries=7))
    assert cache.max_entries == 7
    cache, synth = make(max_entries=0)
    await cache.get_or_synthesize("hi")
    await cache.get_or_synthesize("hi")
    assert len(cache) == 0 and synth.calls == ["hi", "hi"]


async def test_key_includes_synthesis_parameters() -> None:
    cache, synth = make()
    slow = dataclasses.replace(synth.params, length_scale=1.3)
    plain = await cache.get_or_synthesize("Hello.")
    slowed = await cache.get_or_synthesize("Hello.", slow)
    assert plain != slowed and len(synth.calls) == 2
    assert cache.get("Hello.", slow) == slowed
    # a cache over a differently configured voice never shares entries
    other, _ = make(config=TtsConfig(volume=0.5))
    assert other.key("Hello.") != cache.key("Hello.")


async def test_concurrent_requests_share_one_synthesis() -> None:
    cache, synth = make(delay=0.05)
    results = await asyncio.gather(*(cache.get_or_synthesize("Just a moment.") for _ in range(5)))
    assert len(set(results)) == 1 and synth.calls == ["Just a moment."]
    assert (cache.misses, cache.hits) == (1, 4)


async def test_cancelled_waiter_does_not_cancel_others() -> None:
    cache, synth = make(delay=0.05)
    first = asyncio.create_task(cache.get_or_synthesize("Goodbye."))
    second = asyncio.create_task(cache.get_or_synthesize("Goodbye."))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == b"Goodbye.|" + str(synth.params).encode()
    assert "Goodbye." in cache


async def test_size_is_bounded_in_bytes_too() -> None:
    cache, synth = make()
    entry = len(await cache.get_or_synthesize("one"))
    cache, synth = make(max_bytes=2 * entry + 1)
    for word in ("one", "two", "six"):  # same length, so each entry is `entry` bytes
        await cache.get_or_synthesize(word)
    assert "one" not in cache and "two" in cache and "six" in cache
    assert cache.bytes == 2 * entry and cache.evictions == 1
    await cache.get_or_synthesize("x" * 10 * entry)  # larger than the whole bound: never cached
    assert len(cache) == 2 and cache.bytes == 2 * entry


async def test_warm_skips_cached_and_waits_while_busy() -> None:
    cache, synth = make()
    busy = [True, True, False]
    assert await cache.warm(["Hello.", "Please hold.", "Hello."], wait_while=lambda: bool(busy) and busy.pop(0)) == 2
    assert len(cache) == 2 and synth.calls == ["Hello.", "Please hold."]
    assert busy == []  # it waited until the busy signal cleared
    assert await cache.warm(["Hello."]) == 0


async def test_background_warming_stops_at_the_bound_instead_of_evicting() -> None:
    cache, synth = make(max_entries=2)
    await cache.warm(["one.", "two."])
    made = await cache.warm(["three.", "four."], stop_when_full=True)
    assert made == 0 and "one." in cache and "two." in cache and cache.full
    assert await cache.get_or_synthesize("   ") == b""
    assert len(cache) == 2


# --- real piper voice ----------------------------------------------------------------


@pytest.fixture(scope="module")
def synth() -> Iterator[PiperSynthesizer]:
    synthesizer = PiperSynthesizer(TtsConfig())
    yield synthesizer
    synthesizer.close()


@pytest.mark.slow
async def test_real_cache_hit_skips_piper(synth: PiperSynthesizer) -> None:
    cache = PhraseCache(synth)
    await cache.warm(["Thank you for calling."])
    made = synth.sentences_synthesized
    pcm = await cache.get_or_synthesize("Thank you  for calling.")
    assert synth.sentences_synthesized == made  # no piper run on a hit
    assert pcm == cache.get("Thank you for calling.") and len(pcm) > 16_000
    assert (cache.hits, cache.misses) == (1, 1)


async def test_each_new_entry_is_told_to_on_added_with_its_params() -> None:
    added: list[tuple[str, VoiceParams, bytes]] = []
    synth = FakeSynth()
    cache = PhraseCache(synth, on_added=lambda text, params, pcm: added.append((text, params, pcm)))  # type: ignore[arg-type]
    calm = dataclasses.replace(synth.params, length_scale=1.3)
    await cache.warm(["Please  hold.", "Goodbye."], calm)
    await cache.get_or_synthesize("Please hold.", calm)  # a hit: nothing new
    await cache.get_or_synthesize("  ")  # nothing synthesized: nothing cached, nothing told
    assert [(text, params) for text, params, _ in added] == [("Please hold.", calm), ("Goodbye.", calm)]
    assert added[0][2] == cache.get("Please hold.", calm)
