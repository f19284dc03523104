"""A call's emotion client against a real service process: updates, breaker, dropping queues.

The service is a real ``bedside emotion serve`` (real models); it is killed with SIGKILL and
restarted on the same port mid-call, and stalled with SIGSTOP, to make the failures real."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from agent.call.burst_table import load_burst_table
from agent.services.metrics import Metrics
from emotion.audio import load_audio
from emotion.breaker import BreakerState
from emotion.client import EmotionClient
from emotion.config import BreakerConfig, ClientConfig
from emotion.events import UpdateSource
from emotion.training.data import ravdess_clips
from telephony.frames import Segment
from tests.emotion.service_process import TOKEN, free_tcp_port, start_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def segments(shared: Path) -> list[Segment]:
    """Real speech as the segmenter hands it over: 2-s int16 slices with call times."""
    clips = [c for c in ravdess_clips(shared) if c.actor == 23 and c.strong][:8]
    audio = np.concatenate([load_audio(c.path) for c in clips])
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    out = []
    for i in range(pcm.size // 32000):
        out.append(Segment(pcm[i * 32000 : (i + 1) * 32000].tobytes(), 2.0 * i, 2.0 * (i + 1), 0.8, True))
    return out


def client_for(url: str | None, **config) -> EmotionClient:
    cfg = ClientConfig(**{"breaker": BreakerConfig(failure_threshold=2, open_s=1.0), "timeout_s": 1.5,
                          "backoff_initial_s": 0.2, "backoff_max_s": 0.5, **config})
    # The server's metrics object, as the composition root hands it in (emotion sees only its Meter side).
    return EmotionClient("call-test", url, load_burst_table().meanings(), cfg, metrics=Metrics(),
                         token=TOKEN)


async def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_segments_and_transcripts_become_updates(tmp_path: Path, segments: list[Segment]) -> None:
    service = start_service(tmp_path)
    client = client_for(service.url)
    updates = client.timeline.states  # every state the client emitted, in order
    client.start()
    try:
        for seg in segments[:4]:
            client.submit("call-test", seg)
            await asyncio.sleep(0.3)
        assert client.submit_transcript("I'm so angry, nobody ever calls me back!", 8.0)
        await wait_until(lambda: client.answered >= 5)
    finally:
        await client.close()
        service.stop()
    assert updates and all(u.available and u.source is UpdateSource.READING for u in updates)
    queued = [client.updates.get_nowait() for _ in range(client.updates.qsize())]
    assert queued == updates  # what a call's turn loop reads: the same states, in order
    last = updates[-1]
    assert last.readings >= 5 and -1 <= last.valence <= 1
    assert any(e.channel == "language" for e in last.top_emotions)
    assert len(client.timeline.segments) == 4 and len(client.timeline.utterances) == 1
    assert len(client.timeline.segments[0].embedding) == 64
    for entry, listed in zip(client.timeline.segments, client.timeline.as_dict()["segments"], strict=True):
        top, score = max(entry.prosody.items(), key=lambda kv: kv[1])
        assert entry.reading == (top if score >= 0.5 else "unsure") and listed["reading"] == entry.reading
    assert client.timeline.as_dict()["utterances"][0]["toxicity"]  # scores only; no text is kept
    assert "nobody" not in str(client.timeline.as_dict())


async def test_breaker_opens_when_the_service_dies_and_recovers_when_it_returns(tmp_path: Path, segments: list[Segment]) -> None:
    port = free_tcp_port()
    service = start_service(tmp_path, port=port)
    client = client_for(service.url)
    updates = client.timeline.states  # every state the client emitted, in order
    client.start()
    try:
        client.submit("call-test", segments[0])
        await wait_until(lambda: client.answered == 1)
        assert client.breaker.state is BreakerState.CLOSED
        service.kill()  # mid-call: SIGKILL, no goodbye
        for seg in segments[1:4]:
            client.submit("call-test", seg)
            await asyncio.sleep(0.2)
        await wait_until(lambda: client.breaker.state is BreakerState.OPEN)
        assert not updates[-1].available and updates[-1].source is UpdateSource.DEFAULTS
        assert client.latest.valence == client.window.defaults.valence
        opened = [t for t in client.breaker.transitions if t.after is BreakerState.OPEN]
        assert opened and "consecutive failures" in opened[0].reason
        service = start_service(tmp_path, port=port)  # back on the same port
        deadline = time.monotonic() + 30
        i = 4
        while client.breaker.state is not BreakerState.CLOSED and time.monotonic() < deadline:
            client.submit("call-test", segments[i % len(segments)])
            i += 1
            await asyncio.sleep(0.3)
        assert client.breaker.state is BreakerState.CLOSED
        await wait_until(lambda: updates[-1].available)
    finally:
        await client.close()
        service.stop()
    states = [(t.before, t.after) for t in client.breaker.transitions]
    assert (BreakerState.CLOSED, BreakerState.OPEN) in states
    assert (BreakerState.OPEN, BreakerState.HALF_OPEN) in states
    assert states[-1] == (BreakerState.HALF_OPEN, BreakerState.CLOSED)
    assert any(u.source is UpdateSource.RECOVERED for u in updates)
    assert client.metrics.counter("emotion_breaker_opened") >= 1


async def test_stalled_service_drops_without_blocking_the_producer(tmp_path: Path, segments: list[Segment]) -> None:
    service = start_service(tmp_path)
    client = client_for(service.url, audio_queue=5, text_queue=20)
    client.start()
    try:
        client.submit("call-test", segments[0])
        await wait_until(lambda: client.answered == 1)
        service.pause()  # SIGSTOP: the socket stays open, nothing answers
        worst = 0.0
        for i in range(60):
            started = time.perf_counter()
            client.submit("call-test", segments[i % len(segments)])
            client.submit_transcript(f"sentence {i}", float(i))
            worst = max(worst, time.perf_counter() - started)
        assert worst < 0.05  # never waits on the service
        assert client.metrics.counter("emotion_audio_dropped") > 0
        assert client.metrics.counter("emotion_text_dropped") > 0
        await wait_until(lambda: client.breaker.state is BreakerState.OPEN, timeout=15)
        assert not client.latest.available
    finally:
        service.resume()
        await client.close()
        service.stop()


async def test_emotion_off_runs_on_defaults(segments: list[Segment]) -> None:
    client = client_for(None)
    updates = client.timeline.states
    client.start()
    client.submit("call-test", segments[0])
    client.submit_transcript("hello", 1.0)
    await asyncio.sleep(0.2)
    await client.close()
    assert client.sent == 0 and not client.latest.available and not updates
