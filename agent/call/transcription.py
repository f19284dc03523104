"""A call's transcription while the caller talks: partial transcripts, the paused speech
transcribed before the turn has ended, and each turn's final transcript.

Whisper is not incremental: a transcript is a decode of the whole audio. Streaming is therefore
three kinds of decode of the same growing utterance, all through the process's one STT worker
(agent/services/stt.py):

* **partial** -- every ``partial_every_ms`` of speech (``SpeechSoFar``) the audio so far is
  decoded, only when the STT worker is idle (a partial never delays anyone's turn) and one at a
  time per call. Its words become a ``PartialTranscript`` frame whose ``stable`` part is what two
  successive partials agreed on (LocalAgreement-2, Machacek et al. 2023): later audio rarely
  changes those words.
* **early** -- ``pause_ms`` into a silence (``SpeechPaused``) the segmenter hands over exactly the
  audio the utterance will have if that silence ends the turn. It is decoded at once unless other
  decodes are queued (then the turn's end decodes, as before). If the caller goes on talking the
  early decode is stale: the next pause replaces it (a queued one is cancelled). Its words
  become an ``EarlyTranscript`` frame, from which the reply may be worked out in advance.
* **final** -- at the end of the turn (``Utterance``): the early decode's result when it was of
  this very audio (the same pcm, so the same words), else a decode now. Only the final reaches the
  call's record (a ``Transcript`` frame), the emotion client and the ``caller_said`` log line.

So the transcript is usually ready when the end-of-speech silence ends the turn: the decode ran
in the last 200 ms of it instead of after it (docs/stt.md has the measurement)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.call.frames import EarlyTranscript, Frame, PartialTranscript, Transcript
from agent.services.metrics import Metrics
from agent.services.stt import SttOverloaded
from telephony.audio import SAMPLE_RATE
from telephony.frames import SpeechPaused, SpeechSoFar, Utterance


class SttResult(Protocol):
    text: str
    elapsed_s: float


class Stt(Protocol):
    """What this needs of agent/services/stt.py's SttWorker."""

    @property
    def idle(self) -> bool: ...

    @property
    def queue_depth(self) -> int: ...

    async def transcribe(self, pcm: bytes, call_id: str) -> Any: ...


@dataclass(slots=True)
class _Agreement:
    """LocalAgreement-2 over one utterance's partials."""

    utterance_start: float
    previous: list[str]  # the last partial's words, normalized
    stable: int = 0  # words agreed so far (never shrinks within the utterance)

    def update(self, words: list[str]) -> int:
        agreed = 0
        for a, b in zip(self.previous, words):
            if a != b:
                break
            agreed += 1
        self.stable = max(self.stable, agreed)
        self.previous = words
        return min(self.stable, len(words))


class StreamingTranscription:
    def __init__(
        self, stt: Stt, call_id: str, emit: Callable[[Frame], None], metrics: Metrics, log: Any, partial_max_s: float = 10.0,
    ) -> None:
        self.stt = stt
        self.partial_max_s = partial_max_s  # past STT's one-window decode a partial costs seconds
        self.call_id = call_id
        self._emit = emit  # into the call's inbox
        self.metrics = metrics
        self.log = log
        self._early: tuple[SpeechPaused, asyncio.Task[Any | None]] | None = None
        self._partial: asyncio.Task[None] | None = None
        self._agreement: _Agreement | None = None
        self._ended_before = float("-inf")  # utterances starting before this have ended: late partials are dropped
        self.finals: set[asyncio.Task[str]] = set()  # survive hang-up: the record keeps the last words
        self.last_early = False  # the last final began from an early decode

    # ---- while the caller talks ---------------------------------------------------------------
    def speech_so_far(self, so_far: SpeechSoFar) -> None:
        if self._partial is not None and not self._partial.done():
            return  # one partial at a time per call: the next offer carries more audio anyway
        if len(so_far.pcm) > self.partial_max_s * SAMPLE_RATE * 2:
            return
        if not self.stt.idle:
            self.metrics.inc("stt_partials_skipped")
            return
        self._partial = asyncio.create_task(self._decode_partial(so_far), name=f"stt-partial-{self.call_id}")

    def paused(self, paused: SpeechPaused) -> None:
        self._drop_early()
        if self.stt.queue_depth:
            self.metrics.inc("stt_early_skipped")  # others wait: their turns first
            return
        self._early = (paused, asyncio.create_task(self._decode_early(paused), name=f"stt-early-{self.call_id}"))

    # ---- at the end of a turn -----------------------------------------------------------------
    def final(self, utterance: Utterance) -> asyncio.Task[str]:
        """The turn's transcript ("" when STT failed or heard nothing), as a task the reply may
        await; it also goes to the inbox as a ``Transcript`` frame."""
        self._ended_before = max(self._ended_before, utterance.end_time)
        if self._partial is not None and not self._partial.done():
            self._partial.cancel()  # queued: frees the worker for this final; running: its result is dropped
        early = None
        if self._early is not None and self._early[0].matches(utterance):
            early = self._early[1]
            self._early = None
        else:
            self._drop_early()
        self.last_early = early is not None
        task = asyncio.create_task(self._final(utterance, early), name=f"stt-final-{self.call_id}")
        self.finals.add(task)
        task.add_done_callback(self.finals.discard)
        return task

    def close(self) -> None:
        """At hang-up: drop the speculative decodes (finals are left to finish)."""
        self._drop_early()
        if self._partial is not None:
            self._partial.cancel()

    # ---- internals ----------------------------------------------------------------------------
    def _drop_early(self) -> None:
        if self._early is not None:
            self._early[1].cancel()  # a queued decode is skipped by the worker; a running one ends unused
            self._early = None

    async def _decode(self, pcm: bytes) -> Any | None:
        """A speculative decode: None when it could not run (the final then decodes itself)."""
        try:
            return await self.stt.transcribe(pcm, self.call_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - overloaded or failed: the turn's end decodes instead
            self.metrics.inc("stt_speculative_failed")
            return None

    async def _decode_early(self, paused: SpeechPaused) -> Any | None:
        result = await self._decode(paused.pcm)
        if result is not None and self._early is not None and self._early[0] is paused:
            self._emit(EarlyTranscript(result.text, paused.start_time, paused.end_time))  # still the latest pause
        return result

    async def _decode_partial(self, so_far: SpeechSoFar) -> None:
        result = await self._decode(so_far.pcm)
        if result is None or so_far.start_time < self._ended_before:
            return  # failed, or its utterance ended meanwhile: the final says it better
        raw = result.text.split()
        words = [re.sub(r"[^\w']+", "", w.lower()) for w in raw]  # "Lopez," agrees with "Lopez."
        agreement = self._agreement
        if agreement is None or agreement.utterance_start != so_far.start_time:
            agreement = self._agreement = _Agreement(so_far.start_time, [])
        stable = agreement.update(words)
        self.metrics.inc("stt_partials")
        self._emit(PartialTranscript(" ".join(raw), " ".join(raw[:stable]), so_far.start_time, so_far.end_time))

    async def _final(self, utterance: Utterance, early: asyncio.Task[Any | None] | None) -> str:
        result = None
        if early is not None:
            try:
                result = await asyncio.shield(early)
            except asyncio.CancelledError:
                if not early.cancelled():
                    raise  # this final itself was cancelled
            self.metrics.inc("stt_early_used" if result is not None else "stt_early_failed")
        else:
            self.metrics.inc("stt_after_turn")
        if result is None:
            try:
                result = await self.stt.transcribe(utterance.pcm, self.call_id)
            except SttOverloaded:
                self.metrics.inc("stt_overloaded")
                self.log.warning("stt_overloaded")
                return ""
            except Exception:  # noqa: BLE001 - a failed transcript must not end the call
                self.metrics.inc("stt_errors")
                self.log.exception("stt_failed")
                return ""
        self.metrics.observe_ms("stt_inference_ms", result.elapsed_s * 1000)
        self.log.info("caller_said", transcript=result.text, stt_ms=round(result.elapsed_s * 1000),
                      early=early is not None)
        self._emit(Transcript(result.text, utterance.end_time))
        return result.text


__all__ = ["StreamingTranscription"]
