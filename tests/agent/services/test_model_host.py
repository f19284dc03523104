"""The model host and a worker's adapters over a real Unix socket: the host's real ``SttWorker``
queue (fake transcribers, so timing is deterministic), a scripted synthesizer and embedder.
The real models over this path are in tests/e2e (a worker's calls in test_node_metrics.py,
test_sip_hardening.py and test_front.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from agent.services.model_client import HostError, ModelHostClient
from agent.services.model_host import ModelHost, ModelHostAddress
from agent.services.model_wire import Frame
from agent.services.remote_embedder import RemoteEmbedder
from agent.services.remote_stt import RemoteStt
from agent.services.remote_tts import RemoteSynthesizer
from agent.services.stt import SttError, SttOverloaded, SttWorker, Transcript
from agent.services.stt_config import SttConfig
from graph.matcher import TransitionMatcher
from graph.validate import load_graph
from tts.config import TtsConfig
from tts.expression import Expression
from tts.shared_phrases import PhraseEntry, SharedPhrases
from tts.synthesizer import VoiceParams

TINY = Path(__file__).parents[2] / "graph" / "graphs" / "tiny.yaml"


class GatedTranscriber:
    """Answers with the PCM's length; holds each decode until ``release`` is set."""

    def __init__(self, _config: SttConfig) -> None:
        self.release = threading.Event()
        self.release.set()

    def transcribe(self, pcm: bytes) -> Transcript:
        self.release.wait(5)
        return Transcript(f"{len(pcm)} bytes", len(pcm) / 32000, 0.01, 0.0, 0.1, -0.2, "fake")


class ScriptedSynth:
    """``PiperSynthesizer``'s streaming face: one chunk per word, the params in the chunk."""

    def __init__(self) -> None:
        self.busy = False
        self.closed_early = asyncio.Event()

    async def stream(self, text: str, params: VoiceParams | None = None) -> AsyncIterator[bytes]:
        try:
            for word in text.split():
                await asyncio.sleep(0.01)
                yield f"{word}@{params.length_scale if params else 1.0}".encode()
        except GeneratorExit:
            self.closed_early.set()
            raise
        except asyncio.CancelledError:
            self.closed_early.set()
            raise


class LengthEmbedder:
    def encode(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32).reshape(len(texts), 3)


@pytest.fixture
async def host():
    transcribers: list[GatedTranscriber] = []

    def factory(config: SttConfig) -> GatedTranscriber:
        transcribers.append(GatedTranscriber(config))
        return transcribers[-1]

    stt = SttWorker(SttConfig(queue_size=1), transcriber_factory=factory)
    await stt.start()
    server = ModelHost(stt, ScriptedSynth(), LengthEmbedder(), max_phrase_bytes=1_000_000)  # type: ignore[arg-type]
    server.gate = transcribers[0].release  # type: ignore[attr-defined]
    await server.start()
    yield server
    await server.stop()
    transcribers[0].release.set()
    await stt.stop()


def _client(host: ModelHost, phrases: SharedPhrases | None = None, token: str | None = None) -> ModelHostClient:
    address = host.address if token is None else ModelHostAddress(host.address.socket_path, host.address.phrase_path, token)

    def on_phrase(frame: Frame) -> None:
        if phrases is not None:
            phrases.add(PhraseEntry.from_fields(frame.fields))

    return ModelHostClient(address, on_phrase)


async def _until(condition, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_the_socket_is_private_and_a_wrong_token_gets_nothing(host: ModelHost) -> None:
    assert Path(host.address.socket_path).parent.stat().st_mode & 0o777 == 0o700
    with pytest.raises(HostError) as refused:
        await _client(host, token="guess").connect()
    assert refused.value.kind in {"refused", "unreachable"}
    with pytest.raises(HostError):
        await asyncio.to_thread(RemoteEmbedder(ModelHostAddress(host.address.socket_path, "", "guess"), 2.0).encode, ["hi"])


async def test_a_worker_transcribes_on_the_hosts_queue_and_sees_its_status(host: ModelHost) -> None:
    client = _client(host)
    stt = RemoteStt(client)
    await stt.start()
    result = await stt.transcribe(b"\x00" * 3200, "call-1")
    assert result.text == "3200 bytes" and result.model == "fake" and result.audio_s == pytest.approx(0.1)
    host.gate.clear()  # type: ignore[attr-defined]  # the decoder is busy from now on
    first = asyncio.create_task(stt.transcribe(b"\x00" * 640, "call-1"))
    await asyncio.sleep(0)  # the request is sent
    assert not stt.idle  # its own request, before the host says anything
    await _until(lambda: not client.status.stt_idle)
    second = asyncio.create_task(stt.transcribe(b"\x00" * 640, "call-2"))  # queued: the host's queue holds one
    await _until(lambda: stt.queue_depth == 1)
    with pytest.raises(SttOverloaded):  # the host's overload is the worker's overload
        await stt.transcribe(b"\x00" * 640, "call-3")
    host.gate.set()  # type: ignore[attr-defined]
    assert (await first).text == (await second).text == "640 bytes"
    await _until(lambda: stt.idle and stt.queue_depth == 0)
    await client.close()


async def test_a_cancelled_transcript_is_dropped_at_the_host(host: ModelHost) -> None:
    client = _client(host)
    stt = RemoteStt(client)
    await stt.start()
    host.gate.clear()  # type: ignore[attr-defined]
    running = asyncio.create_task(stt.transcribe(b"\x00" * 640, "call-1"))
    await _until(lambda: not client.status.stt_idle)
    queued = asyncio.create_task(stt.transcribe(b"\x00" * 640, "call-2"))
    await _until(lambda: host.stt.queue_depth == 1)
    queued.cancel()  # the caller hung up while waiting
    await _until(lambda: sum(len(c.requests) for c in host._connections) == 1)
    host.gate.set()  # type: ignore[attr-defined]
    assert (await running).text == "640 bytes"
    await _until(lambda: host.stt.idle)
    assert host.stt.jobs == 1  # the cancelled one was never decoded
    assert client.in_flight == 0
    await client.close()


async def test_a_worker_streams_speech_sentence_by_sentence_and_barge_in_stops_it(host: ModelHost) -> None:
    client = _client(host)
    await client.connect()
    synth = RemoteSynthesizer(client, TtsConfig())
    calm = synth.params_for(Expression.CALM)
    assert calm != synth.params_for(None)
    chunks = [chunk async for chunk in synth.stream("one two three", calm)]
    assert chunks == [f"{w}@{calm.length_scale}".encode() for w in ("one", "two", "three")]
    assert synth.pause(calm) == bytes(2 * round(16000 * calm.sentence_pause_ms / 1000))
    stream = synth.stream("a b c d e f g h", calm)
    assert await anext(stream) == f"a@{calm.length_scale}".encode()
    assert synth.busy
    await stream.aclose()  # barge-in
    await asyncio.wait_for(host.synth.closed_early.wait(), 2)  # type: ignore[attr-defined]
    assert not synth.busy
    await _until(lambda: client.in_flight == 0)
    await client.close()


async def test_phrases_reach_a_worker_at_connect_and_as_they_are_made(host: ModelHost, tmp_path: Path) -> None:
    host.phrase_added("Hello.", VoiceParams(), b"\x01" * 320)
    phrases = SharedPhrases(Path(host.address.phrase_path))
    client = _client(host, phrases)
    await client.connect()
    await _until(lambda: len(phrases) == 1)
    assert phrases.get("Hello.", VoiceParams()) == b"\x01" * 320
    host.phrase_added("Goodbye.", VoiceParams(length_scale=1.2), b"\x02" * 640)
    await _until(lambda: len(phrases) == 2)
    assert phrases.get("Goodbye.", VoiceParams(length_scale=1.2)) == b"\x02" * 640
    phrases.close()
    await client.close()


async def test_the_graph_embeds_through_the_host_and_survives_losing_it(host: ModelHost) -> None:
    embedder = RemoteEmbedder(host.address, timeout_s=2.0)
    vectors = await asyncio.to_thread(embedder.encode, ["hi", "hello there"])
    assert vectors.shape == (2, 3) and vectors[:, 0].tolist() == [2.0, 11.0]
    assert (await asyncio.to_thread(embedder.encode, [])).shape == (0, 3)
    spec = load_graph(TINY)
    matcher = await asyncio.to_thread(TransitionMatcher, spec, embedder)
    to_operator = spec.global_transitions[0]  # intent operator: keyword "receptionist"
    # (on a thread: here the host shares this event loop; a worker's host is another process)
    assert (await asyncio.to_thread(matcher.embed, "can I speak to a person")).embedding is not None
    await host.stop()  # the front went away mid-call
    turn = await asyncio.to_thread(matcher.embed, "put me through to the receptionist")
    assert turn.embedding is None  # no examples this turn, but keywords still match
    assert matcher.match(to_operator, turn).score > 0.8
    with pytest.raises(HostError):
        await asyncio.to_thread(embedder.encode, ["hi"])
    embedder.close()


async def test_losing_the_host_fails_requests_in_flight_and_the_call_goes_on(host: ModelHost) -> None:
    client = _client(host)
    stt = RemoteStt(client)
    synth = RemoteSynthesizer(client, TtsConfig())
    await stt.start()
    host.gate.clear()  # type: ignore[attr-defined]
    waiting = asyncio.create_task(stt.transcribe(b"\x00" * 640, "call-1"))
    await _until(lambda: not client.status.stt_idle)
    await host.stop()
    with pytest.raises(SttError):
        await waiting
    with pytest.raises(SttError):  # reconnecting finds nobody
        await stt.transcribe(b"\x00" * 640, "call-1")
    assert [chunk async for chunk in synth.stream("hello there")] == []  # the reply is cut short, not raised
    assert stt.idle  # no stale "busy" from a host that is gone
    host.gate.set()  # type: ignore[attr-defined]
    await client.close()


async def test_a_phrase_entry_the_worker_cannot_read_is_a_miss_not_a_lost_host(host: ModelHost) -> None:
    seen: list[Frame] = []

    def broken(frame: Frame) -> None:
        seen.append(frame)
        raise KeyError("params")

    client = ModelHostClient(host.address, broken)
    stt = RemoteStt(client)
    await stt.start()
    host.phrase_added("Hello.", VoiceParams(), b"\x01" * 320)
    await _until(lambda: len(seen) == 1)
    assert (await stt.transcribe(b"\x00" * 320, "call-1")).text == "320 bytes"  # the same connection goes on
    assert client.reconnects == 0
    await client.close()
