"""Streaming transcription from scripted frames: which decodes run, which result a turn gets.

The STT worker is a stand-in that answers scripted texts and counts decodes; the same path runs
on Whisper in the call tests (tests/e2e) and the latency bench."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
import structlog

from agent.call.frames import EarlyTranscript, PartialTranscript, Transcript
from agent.call.transcription import StreamingTranscription
from agent.services.metrics import Metrics
from agent.services.stt import SttOverloaded
from telephony.frames import SpeechPaused, SpeechSoFar, Utterance

FRAME = b"\x01\x00" * 320


@dataclass
class Result:
    text: str
    elapsed_s: float = 0.1


class Stt:
    """Answers each pcm with ``texts[len(pcm)]`` after ``delay_s``; ``gate`` holds decodes back."""

    def __init__(self, texts: dict[int, str], delay_s: float = 0.0, fail: Exception | None = None) -> None:
        self.texts = texts
        self.delay_s = delay_s
        self.fail = fail
        self.decoded: list[int] = []  # frames of each decode that ran to the end
        self.started = 0
        self.queue_depth = 0
        self.busy = 0

    @property
    def idle(self) -> bool:
        return not self.busy and not self.queue_depth

    async def transcribe(self, pcm: bytes, call_id: str) -> Result:
        self.started += 1
        self.busy += 1
        try:
            await asyncio.sleep(self.delay_s)
            if self.fail is not None:
                raise self.fail
            self.decoded.append(len(pcm) // len(FRAME))
            return Result(self.texts[len(pcm) // len(FRAME)])
        finally:
            self.busy -= 1


def utterance(frames: int, end: float = 2.0) -> Utterance:
    return Utterance(FRAME * frames, 1.0, end, end + 0.3)


def paused(frames: int, end: float = 2.0) -> SpeechPaused:
    return SpeechPaused(FRAME * frames, 1.0, end)


def streaming(stt: Stt) -> tuple[StreamingTranscription, list, Metrics]:
    frames: list = []
    metrics = Metrics()
    return StreamingTranscription(stt, "call-1", frames.append, metrics, structlog.get_logger()), frames, metrics


async def test_the_paused_speech_is_the_turns_transcript_without_a_second_decode() -> None:
    stt = Stt({60: "I need a refill"}, delay_s=0.05)
    t, frames, metrics = streaming(stt)
    t.paused(paused(60))
    await asyncio.sleep(0.08)  # the silence runs on; the decode finishes inside it
    assert stt.decoded == [60]
    # not the record's yet: the words the reply may be worked out from
    assert frames == [EarlyTranscript("I need a refill", 1.0, 2.0)]
    text = await t.final(utterance(60))
    assert text == "I need a refill" and t.last_early
    assert stt.decoded == [60]  # one decode for the turn
    assert frames[1:] == [Transcript("I need a refill", 2.0)]
    assert metrics.counter("stt_early_used") == 1


async def test_a_turn_that_ends_while_its_early_decode_runs_waits_for_that_decode() -> None:
    stt = Stt({60: "yes"}, delay_s=0.05)
    t, frames, _ = streaming(stt)
    t.paused(paused(60))
    assert await t.final(utterance(60)) == "yes"
    assert stt.started == 1 and frames == [Transcript("yes", 2.0)]  # the turn ended first: no early frame


async def test_speech_after_the_pause_makes_the_early_decode_stale() -> None:
    stt = Stt({60: "My name is", 90: "My name is Maria Lopez"}, delay_s=0.05)
    t, frames, metrics = streaming(stt)
    t.paused(paused(60, end=2.0))
    await asyncio.sleep(0)
    # the caller went on; the utterance that ends the turn is longer
    assert await t.final(utterance(90, end=2.6)) == "My name is Maria Lopez"
    assert not t.last_early and frames == [Transcript("My name is Maria Lopez", 2.6)]
    assert stt.decoded == [90]  # the stale decode was cancelled
    assert metrics.counter("stt_after_turn") == 1


async def test_a_newer_pause_replaces_the_older_one() -> None:
    stt = Stt({60: "a", 90: "b"}, delay_s=0.05)
    t, _, _ = streaming(stt)
    t.paused(paused(60, end=2.0))
    await asyncio.sleep(0)
    t.paused(paused(90, end=2.6))
    assert await t.final(utterance(90, end=2.6)) == "b"
    assert stt.decoded == [90]


async def test_no_early_decode_while_other_turns_wait_for_stt() -> None:
    stt = Stt({60: "hello"})
    stt.queue_depth = 2
    t, _, metrics = streaming(stt)
    t.paused(paused(60))
    assert metrics.counter("stt_early_skipped") == 1 and stt.started == 0
    stt.queue_depth = 0
    assert await t.final(utterance(60)) == "hello" and not t.last_early


async def test_a_failed_early_decode_leaves_the_turn_to_decode_itself() -> None:
    stt = Stt({60: "hello"}, fail=SttOverloaded("full"))
    t, frames, metrics = streaming(stt)
    t.paused(paused(60))
    await asyncio.sleep(0.01)
    stt.fail = None
    assert await t.final(utterance(60)) == "hello"
    assert metrics.counter("stt_early_failed") == 1 and stt.started == 2


async def test_a_failed_final_is_an_empty_transcript_and_the_call_goes_on() -> None:
    stt = Stt({}, fail=RuntimeError("model crashed"))
    t, frames, metrics = streaming(stt)
    assert await t.final(utterance(60)) == ""
    assert metrics.counter("stt_errors") == 1 and not frames


async def test_partials_agree_on_a_stable_prefix() -> None:
    stt = Stt({30: "I need", 60: "I need a re-", 90: "I need a refill,", 120: "I need a refill, please"})
    t, frames, metrics = streaming(stt)
    for n in (30, 60, 90, 120):
        t.speech_so_far(SpeechSoFar(FRAME * n, 1.0, 1.0 + n * 0.02))
        await asyncio.sleep(0.01)
    partials = [f for f in frames if isinstance(f, PartialTranscript)]
    assert [p.text for p in partials] == ["I need", "I need a re-", "I need a refill,", "I need a refill, please"]
    # LocalAgreement-2: words two partials in a row agree on (punctuation aside); never shrinks
    assert [p.stable for p in partials] == ["", "I need", "I need a", "I need a refill,"]
    assert metrics.counter("stt_partials") == 4


async def test_partials_run_only_on_an_idle_worker_and_one_at_a_time() -> None:
    stt = Stt({30: "I", 60: "I need"}, delay_s=0.05)
    t, frames, metrics = streaming(stt)
    stt.queue_depth = 1
    t.speech_so_far(SpeechSoFar(FRAME * 30, 1.0, 1.6))
    assert stt.started == 0 and metrics.counter("stt_partials_skipped") == 1
    stt.queue_depth = 0
    t.speech_so_far(SpeechSoFar(FRAME * 30, 1.0, 1.6))
    await asyncio.sleep(0)
    t.speech_so_far(SpeechSoFar(FRAME * 60, 1.0, 2.2))  # the first is still decoding: no second
    await asyncio.sleep(0.08)
    assert stt.started == 1


async def test_no_partials_past_one_stt_window() -> None:
    stt = Stt({})
    t, _, _ = streaming(stt)
    t.partial_max_s = 1.0
    t.speech_so_far(SpeechSoFar(FRAME * 60, 1.0, 2.2))  # 1.2 s
    await asyncio.sleep(0)
    assert stt.started == 0


async def test_a_partial_that_finishes_after_its_turn_ended_is_dropped() -> None:
    stt = Stt({30: "I need", 60: "I need help"}, delay_s=0.05)
    t, frames, _ = streaming(stt)
    t.speech_so_far(SpeechSoFar(FRAME * 30, 1.0, 1.6))
    await asyncio.sleep(0)
    assert await t.final(utterance(60)) == "I need help"
    await asyncio.sleep(0.08)
    assert frames == [Transcript("I need help", 2.0)]


@pytest.mark.parametrize("pending", ["early", "partial"])
async def test_close_cancels_speculative_decodes(pending: str) -> None:
    stt = Stt({60: "x"}, delay_s=0.5)
    t, frames, _ = streaming(stt)
    if pending == "early":
        t.paused(paused(60))
    else:
        t.speech_so_far(SpeechSoFar(FRAME * 60, 1.0, 2.2))
    await asyncio.sleep(0)
    t.close()
    await asyncio.sleep(0.01)
    assert stt.busy == 0 and not frames
