"""The emotion service through a real WebSocket client against a real ``bedside emotion serve``.

Nothing is mocked: the process loads the committed models and scores real RAVDESS speech, a real
nonverbal laugh and real text."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from emotion.audio import load_audio
from emotion.training.data import nonverbal_clips, ravdess_clips
from tests.emotion.service_process import TOKEN, ServiceProcess, start_service, wav

pytestmark = pytest.mark.slow
HEADERS = {"X-Hume-Api-Key": TOKEN}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> ServiceProcess:
    srv = start_service(
        tmp_path_factory.mktemp("emotion-service"),
        "emotion.service.idle_timeout_s=3", "emotion.service.max_message_bytes=1048576",
    )
    yield srv
    assert srv.stop() == 0, srv.log_path.read_text()[-2000:]


@pytest.fixture(scope="module")
def speech(shared: Path) -> np.ndarray:
    clip = next(c for c in ravdess_clips(shared) if c.actor == 22 and c.emotion == "angry" and c.strong)
    return load_audio(clip.path)[:64000]  # up to 4 s (this clip is 3.9 s)


@pytest.fixture(scope="module")
def laugh(shared: Path) -> np.ndarray:
    x = load_audio(next(c for c in nonverbal_clips(shared) if c.label == "laughing").path)[:32000]
    return np.pad(x, (0, 32000 - x.size))


def audio_request(x: np.ndarray, models: dict, payload_id: str = "a1", **extra) -> str:
    return json.dumps({"data": base64.b64encode(wav(x)).decode(), "models": models, "payload_id": payload_id, **extra})


async def ask(ws, message: str) -> dict:
    await ws.send(message)
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


async def test_audio_payload_prosody_and_burst(service: ServiceProcess, speech: np.ndarray, laugh: np.ndarray) -> None:
    async with connect(service.url, additional_headers=HEADERS, proxy=None) as ws:
        reply = await ask(ws, audio_request(speech, {"prosody": {}, "burst": {}}, job_details=True))
        assert set(reply) == {"payload_id", "prosody", "burst", "job_details"} and reply["payload_id"] == "a1"
        prosody = reply["prosody"]["predictions"]
        assert [p["time"] for p in prosody] == [{"begin": 0.0, "end": 2.0}, {"begin": 2.0, "end": round(speech.size / 16000, 3)}]
        for p in prosody:
            names = [e["name"] for e in p["emotions"]]
            assert names == ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
            assert sum(e["score"] for e in p["emotions"]) == pytest.approx(1.0, abs=1e-4)
            assert -1 <= p["valence"] <= 1 and 0 <= p["arousal"] <= 1 and len(p["embedding"]) == 64
        # the absolute reading (beside the caller-adapted one: a stream's first seconds are read
        # against a baseline made of themselves, emotion/caller_baseline.py)
        absolute = prosody[0]["adaptation"]["absolute"]["emotions"]
        assert max(absolute, key=absolute.__getitem__) == "angry"
        burst = reply["burst"]["predictions"]
        assert len(burst) == 2 and all(len(b["emotions"]) == 33 for b in burst)
        for b in burst:  # additive fields beside Hume's: the burst's meaning over EmoGator's 30 categories
            assert len(b["affect"]) == 30 and "Surprise (Negative)" in b["affect"]
            assert sum(b["affect"].values()) == pytest.approx(1.0, abs=1e-4)
            assert -1 <= b["affect_valence"] <= 1 and 0 <= b["affect_arousal"] <= 1
        assert {"whisper_encoder", "yamnet", "heads"} <= set(reply["job_details"]["models_ms"])
        laughed = await ask(ws, audio_request(laugh, {"burst": {}}, "a2"))
        assert set(laughed) == {"payload_id", "burst"}  # only what was asked for
        assert laughed["burst"]["predictions"][0]["type"] in ("laugh", "giggle", "chuckle")


async def test_text_payload_language(service: ServiceProcess) -> None:
    text = "Thank you so much for calling me back. I'm really worried about my test results!"
    async with connect(service.url, additional_headers=HEADERS, proxy=None) as ws:
        reply = await ask(ws, json.dumps({
            "data": text, "raw_text": True, "payload_id": "t1",
            "models": {"language": {"granularity": "sentence", "sentiment": {}, "toxicity": {}}},
        }))
        assert set(reply) == {"payload_id", "language"}
        first, second = reply["language"]["predictions"]
        assert first["text"] == "Thank you so much for calling me back." and first["position"] == {"begin": 0, "end": 38}
        assert text[second["position"]["begin"] : second["position"]["end"]] == second["text"]
        assert max(first["emotions"], key=lambda e: e["score"])["name"] == "gratitude"
        assert {e["name"] for e in second["emotions"] if e["score"] > 0.2} & {"nervousness", "fear"}
        assert [s["name"] for s in first["sentiment"]] == [str(i) for i in range(1, 10)]
        assert {t["name"] for t in first["toxicity"]} == {"toxic", "insult", "obscene", "identity_hate", "threat"}
        words = await ask(ws, json.dumps({"data": "I am fine", "raw_text": True, "models": {"language": {}}}))
        predictions = words["language"]["predictions"]
        assert [p["text"] for p in predictions] == ["I", "am", "fine"]  # Hume's default granularity: word
        assert "sentiment" not in predictions[0] and "toxicity" not in predictions[0]
        b64 = await ask(ws, json.dumps({"data": base64.b64encode(b"Thanks!").decode(), "models": {"language": {"granularity": "passage"}}}))
        assert b64["language"]["predictions"][0]["text"] == "Thanks!"


ERRORS = [
    ("not json {", "bad_json"),
    (json.dumps({"data": "%%%not base64%%%", "models": {"prosody": {}}, "payload_id": "e"}), "bad_base64"),
    (json.dumps({"data": base64.b64encode(b"RIFF....garbage" * 40).decode(), "models": {"prosody": {}}, "payload_id": "e"}), "undecodable_audio"),
    (json.dumps({"data": "x" * 10_001, "raw_text": True, "models": {"language": {}}, "payload_id": "e"}), "text_too_long"),
    (json.dumps({"data": "hello", "raw_text": True, "models": {"facemesh": {}}, "payload_id": "e"}), "unknown_model"),
    (json.dumps({"raw_text": True, "models": {"language": {}}, "payload_id": "e"}), "missing_data"),
    (json.dumps({"data": "hi", "raw_text": True, "models": {}, "payload_id": "e"}), "no_models"),
    (json.dumps({"data": "hi", "raw_text": True, "models": {"prosody": {}}, "payload_id": "e"}), "bad_request"),
    (json.dumps({"data": "hi", "raw_text": True, "models": {"language": {"granularity": "page"}}, "payload_id": "e"}), "bad_request"),
    (json.dumps({"data": "hi", "raw_text": True, "models": {"language": {}}, "stream_window_ms": 50, "payload_id": "e"}), "bad_request"),
]


async def test_every_error_leaves_the_connection_usable(service: ServiceProcess, laugh: np.ndarray) -> None:
    long_audio = audio_request(np.tile(laugh, 3), {"prosody": {}}, "e")  # 6 s
    async with connect(service.url, additional_headers=HEADERS, proxy=None) as ws:
        for message, code in [*ERRORS, (long_audio, "audio_too_long")]:
            reply = await ask(ws, message)
            assert reply["code"] == code, reply
            assert set(reply) == {"error", "code", "payload_id"} and reply["error"]
            if code != "bad_json":
                assert reply["payload_id"] == "e"
        ok = await ask(ws, audio_request(laugh, {"burst": {}}, "after"))
        assert ok["payload_id"] == "after" and "burst" in ok


async def test_twenty_concurrent_connections(service: ServiceProcess, speech: np.ndarray) -> None:
    async def one(i: int) -> dict:
        async with connect(service.url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, proxy=None) as ws:
            return await ask(ws, audio_request(speech[:32000], {"prosody": {}, "burst": {}}, f"c{i}"))

    replies = await asyncio.gather(*(one(i) for i in range(20)))
    assert [r["payload_id"] for r in replies] == [f"c{i}" for i in range(20)]
    tops = {max(r["prosody"]["predictions"][0]["emotions"], key=lambda e: e["score"])["name"] for r in replies}
    assert len(tops) == 1  # the same audio gets the same answer under load


async def test_auth_paths_and_health(service: ServiceProcess) -> None:
    for headers in (None, {"X-Hume-Api-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(InvalidStatus) as info:
            async with connect(service.url, additional_headers=headers, proxy=None):
                pass
        assert info.value.response.status_code == 401
    async with connect(f"{service.url}?apikey={TOKEN}", proxy=None) as ws:
        assert "language" in await ask(ws, json.dumps({"data": "ok", "raw_text": True, "models": {"language": {}}}))
    with pytest.raises(InvalidStatus) as info:
        async with connect(service.url.replace("/v0/stream/models", "/v1/other"), additional_headers=HEADERS, proxy=None):
            pass
    assert info.value.response.status_code == 404
    with urllib.request.urlopen(f"http://127.0.0.1:{service.port}/healthz", timeout=5) as r:
        assert r.status == 200


async def test_idle_connection_closes(service: ServiceProcess) -> None:
    async with connect(service.url, additional_headers=HEADERS, proxy=None) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000 and info.value.rcvd.reason == "idle"


async def test_oversized_message_closes_with_1009(service: ServiceProcess) -> None:
    async with connect(service.url, additional_headers=HEADERS, proxy=None, max_size=None) as ws:
        await ws.send(json.dumps({"data": "A" * 1_200_000, "models": {"prosody": {}}}))
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_stream_context_scores_short_payloads(service: ServiceProcess, speech: np.ndarray) -> None:
    """A 0.2-s payload alone is too short to score; after 2 s of the same stream it is scored in context."""
    short = speech[32000:35200]
    async with connect(service.url, additional_headers=HEADERS, proxy=None) as ws:
        alone = await ask(ws, audio_request(short, {"prosody": {}}, "s0", reset_stream=True))
        assert alone["prosody"]["predictions"][0].get("no_signal") is True
        await ask(ws, audio_request(speech[:32000], {"prosody": {}}, "s1", stream_window_ms=4000))
        in_context = await ask(ws, audio_request(short, {"prosody": {}}, "s2", stream_window_ms=4000))
        p = in_context["prosody"]["predictions"][0]
        assert "no_signal" not in p and p["time"] == {"begin": 0.0, "end": 0.2}
        reset = await ask(ws, audio_request(short, {"prosody": {}}, "s3", reset_stream=True))
        assert reset["prosody"]["predictions"][0].get("no_signal") is True


async def test_each_stream_reads_its_caller_against_their_own_baseline(service: ServiceProcess, speech: np.ndarray) -> None:
    """Prosody predictions carry their confidence and how they were read against the stream's
    caller; the baseline grows with the stream, is per connection, and reset_stream starts it over."""
    async with connect(service.url, additional_headers=HEADERS, proxy=None) as ws:
        seen = []
        for i in range(3):
            reply = await ask(ws, audio_request(speech[:32000], {"prosody": {}}, f"b{i}"))
            p = reply["prosody"]["predictions"][0]
            assert 0 <= p["confidence"] <= 1 and 0 <= p["adaptation"]["trust"] <= 1
            assert set(p["adaptation"]["absolute"]) == {"emotions", "valence", "arousal"}
            seen.append(p["adaptation"]["baseline_segments"])
        assert seen == [1, 2, 3]
        async with connect(service.url, additional_headers=HEADERS, proxy=None) as other:  # another call: its own baseline
            first = await ask(other, audio_request(speech[:32000], {"prosody": {}}, "o1"))
            assert first["prosody"]["predictions"][0]["adaptation"]["baseline_segments"] == 1
        again = await ask(ws, audio_request(speech[:32000], {"prosody": {}}, "b9", reset_stream=True))
        assert again["prosody"]["predictions"][0]["adaptation"]["baseline_segments"] == 1
        text = await ask(ws, json.dumps({"data": "No.", "raw_text": True, "models": {"language": {"granularity": "utterance"}}}))
        assert 0 < text["language"]["predictions"][0]["confidence"] < 1  # a bare answer is weak evidence


def test_token_never_logged_and_unknown_paths_404(service: ServiceProcess) -> None:
    assert TOKEN not in service.log_path.read_text()
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{service.port}/nowhere", timeout=5)


def test_this_deployments_calibration_moves_the_voice_and_the_words_and_leaves_silence() -> None:
    from emotion.deployment_calibration import Example, fit
    from emotion.engine import SegmentPrediction, TextPrediction
    from emotion.models.language.result import LanguageResult
    from emotion.models.prosody import ProsodyResult, no_signal_result
    from emotion.service import calibrated, calibrated_words

    e = np.array([1.0, 0.0, 0.0], np.float32)
    calibration = fit([Example(-0.6, 0.7, 0.0, None, "sigh", e)], words=[Example(-0.4, 0.5, 0.0, None)] * 40)
    voice = calibrated(SegmentPrediction(0, 2, ProsodyResult({"angry": 0.8, "neutral": 0.2}, -0.6, 0.7), None, e), calibration)
    assert voice.prosody.valence == pytest.approx(0.0) and voice.prosody.top == "angry" and voice.calibration.pull == 1.0
    quiet = SegmentPrediction(0, 2, no_signal_result(("angry", "neutral")), None, np.zeros(3, np.float32))
    assert calibrated(quiet, calibration) is quiet
    said = TextPrediction("fine", 0, 4, LanguageResult({}, {}, {}, -0.4, 0.5))
    assert calibrated_words(said, calibration).result.valence == pytest.approx(0.0, abs=0.05)
    nothing = TextPrediction("", 0, 0, LanguageResult({}, {}, {}, 0.0, 0.0, no_signal=True))
    assert calibrated_words(nothing, calibration) is nothing
