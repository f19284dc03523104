"""Whether the caller has finished, asked of a turn-end model at each pause.

The segmenter ends a turn after a fixed silence (``end_of_speech_silence_ms``, 300 ms). At each
pause (``SpeechPaused``, ``pause_ms`` into a silence) the model (Smart Turn v3.2,
telephony/turn_end.py) hears the utterance so far and says how likely the turn is complete; at
or over ``turn.end_model_threshold`` the turn ends after the shorter ``turn.end_model_silence_ms``
instead; otherwise the long silence decides, as before. Inference runs off the event loop (about
30 ms on one core) and comes back as a ``TurnJudged`` frame; the segmenter applies it only if no
speech followed the pause, and speech before the shorter silence has run voids it
(``Segmenter.end_paused_turn``). A model that fails leaves the turn to the long silence: it can
never cost a caller their turn. Why a shorter silence and not the verdict itself: docs/turn_end.md."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from agent.call.frames import Frame, TurnJudged
from agent.services.metrics import Metrics
from telephony.frames import SpeechPaused


class TurnEndModel(Protocol):
    def probability(self, pcm16k: bytes) -> float:
        """How likely the caller's turn is complete, from its audio (16 kHz int16 mono)."""
        ...


class TurnEndJudge:
    """One per call; the model is shared by the process's calls."""

    def __init__(
        self, model: TurnEndModel, threshold: float, emit: Callable[[Frame], None], metrics: Metrics, log: Any,
    ) -> None:
        self.model = model
        self.threshold = threshold
        self._emit = emit  # into the call's inbox
        self.metrics = metrics
        self.log = log
        self._judging: asyncio.Task[None] | None = None

    def paused(self, paused: SpeechPaused) -> None:
        self.close()  # a newer pause: the older one's verdict no longer matters
        self._judging = asyncio.create_task(self._judge(paused))

    def close(self) -> None:
        if self._judging is not None and not self._judging.done():
            self._judging.cancel()
        self._judging = None

    async def _judge(self, paused: SpeechPaused) -> None:
        started = time.perf_counter()
        try:
            probability = await asyncio.to_thread(self.model.probability, paused.pcm)
        except Exception:  # noqa: BLE001 - the silence ends the turn instead
            self.metrics.inc("turn_model_errors")
            self.log.exception("turn_model_failed")
            return
        self.metrics.observe_ms("turn_model_ms", (time.perf_counter() - started) * 1000)
        complete = probability >= self.threshold
        self.metrics.inc("turn_model_complete" if complete else "turn_model_incomplete")
        self._emit(TurnJudged(paused, round(probability, 3), complete))


__all__ = ["TurnEndJudge", "TurnEndModel"]
