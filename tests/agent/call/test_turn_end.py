"""The turn-end judge from scripted pauses (agent/call/turn_end.py): verdicts, failures, staleness.

The model is a stand-in that returns a scripted probability; the real Smart Turn model is
tested on real speech in tests/telephony/test_turn_end.py and end to end in the call tests."""

from __future__ import annotations

import asyncio

import structlog

from agent.call.frames import TurnJudged
from agent.call.turn_end import TurnEndJudge
from agent.services.metrics import Metrics
from telephony.frames import SpeechPaused

PAUSE = SpeechPaused(b"\x01\x00" * 3200, 1.0, 1.2)


class Model:
    def __init__(self, probability: float = 0.9, delay_s: float = 0.0, fail: bool = False) -> None:
        self.p = probability
        self.delay_s = delay_s
        self.fail = fail
        self.heard: list[int] = []

    def probability(self, pcm16k: bytes) -> float:
        import time

        time.sleep(self.delay_s)  # runs on a worker thread, as the real model does
        if self.fail:
            raise RuntimeError("onnxruntime fell over")
        self.heard.append(len(pcm16k))
        return self.p


def judge(model: Model) -> tuple[TurnEndJudge, list, Metrics]:
    frames: list = []
    metrics = Metrics()
    return TurnEndJudge(model, 0.5, frames.append, metrics, structlog.get_logger()), frames, metrics


async def settle(frames: list, n: int = 1) -> None:
    for _ in range(200):
        if len(frames) >= n:
            return
        await asyncio.sleep(0.005)


async def test_a_pause_the_model_calls_complete_is_judged_complete() -> None:
    model = Model(0.93)
    j, frames, metrics = judge(model)
    j.paused(PAUSE)
    await settle(frames)
    assert frames == [TurnJudged(PAUSE, 0.93, True)] and model.heard == [len(PAUSE.pcm)]
    assert metrics.counter("turn_model_complete") == 1 and metrics.percentiles("turn_model_ms")


async def test_an_incomplete_verdict_leaves_the_turn_to_the_silence() -> None:
    j, frames, metrics = judge(Model(0.2))
    j.paused(PAUSE)
    await settle(frames)
    assert frames == [TurnJudged(PAUSE, 0.2, False)] and metrics.counter("turn_model_incomplete") == 1


async def test_a_failing_model_says_nothing_and_is_counted() -> None:
    j, frames, metrics = judge(Model(fail=True))
    j.paused(PAUSE)
    await asyncio.sleep(0.1)
    assert frames == [] and metrics.counter("turn_model_errors") == 1


async def test_a_newer_pause_or_the_call_end_drops_the_older_verdict() -> None:
    j, frames, _ = judge(Model(0.9, delay_s=0.05))
    j.paused(PAUSE)
    later = SpeechPaused(PAUSE.pcm * 2, 1.0, 1.6)
    await asyncio.sleep(0)
    j.paused(later)
    await settle(frames)
    await asyncio.sleep(0.1)
    assert [f.paused for f in frames] == [later]
    j.paused(PAUSE)
    j.close()
    await asyncio.sleep(0.1)
    assert len(frames) == 1
