"""The scoring engine behind the emotion service: the models, loaded once, run on a thread pool.

For an audio payload the two backbones run **in parallel** on two threads: the Whisper encoder
(prosody, burst and embedding read its pooled states) and YAMNet (burst); the small heads then
run inline. A text payload runs the language model on its own thread, so a transcript never
waits behind audio of another connection. torch and TFLite release the GIL while they compute,
and each backbone has its own lock, so two threads keep two cores busy."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotion.audio import SEGMENT_SAMPLES, has_signal, split_segments
from emotion.caller_baseline import CallerBaseline
from emotion.deployment_calibration import Reading
from emotion.models.burst import BurstResult
from emotion.models.language import LanguageModel, LanguageResult, text_sentences
from emotion.models.prosody import ProsodyResult
from emotion.protocol import Granularity
from emotion.scorer import AudioScorer
from telephony.audio import SAMPLE_RATE

WORD_CONTEXT = 12  # words of the same sentence a word is scored with (it and the ones before it)


@dataclass(frozen=True)
class SegmentPrediction:
    begin: float
    end: float
    prosody: ProsodyResult | None
    burst: BurstResult | None
    embedding: np.ndarray | None
    calibration: Reading | None = None  # set when this deployment's calibration moved the reading


@dataclass(frozen=True)
class TextPrediction:
    text: str
    begin: int  # character offsets into the payload text, end exclusive
    end: int
    result: LanguageResult


@dataclass
class Timings:
    """Milliseconds spent per model on a payload (``job_details``)."""

    ms: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, started: float) -> None:
        self.ms[name] = round(self.ms.get(name, 0.0) + (time.perf_counter() - started) * 1000.0, 2)


class EmotionEngine:
    def __init__(self, scorer: AudioScorer, language: LanguageModel, workers: int = 2) -> None:
        self.scorer = scorer
        self.language = language
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emotion-score")

    @classmethod
    def load(cls, directory: Path | None = None, workers: int = 2) -> EmotionEngine:
        import torch

        torch.set_num_threads(1)  # parallelism comes from the pool; more threads per op oversubscribe 2 cores
        return cls(AudioScorer.load(directory), LanguageModel.load(directory), workers)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def score_audio(
        self, x: np.ndarray, models: frozenset[str], context: np.ndarray | None = None, timings: Timings | None = None,
        baseline: CallerBaseline | None = None,
    ) -> list[SegmentPrediction]:
        """2-s segments of 16 kHz audio. ``context`` (earlier audio of the stream) is prepended to a
        payload shorter than one segment so it is scored over a full segment; times refer to ``x``.
        ``baseline`` (the stream's caller) adapts the prosody reading and learns from it, in order."""
        timings = timings or Timings()
        segments = split_segments(x)
        scored: list[np.ndarray] = []
        for _, seg in segments:
            if context is not None and context.size and seg.size < SEGMENT_SAMPLES:
                need = SEGMENT_SAMPLES - seg.size
                seg = np.concatenate([context[-need:], seg])
            scored.append(seg)
        loop = asyncio.get_running_loop()
        speech_job = loop.run_in_executor(self.pool, self._speech, scored, timings)
        frames_job = loop.run_in_executor(self.pool, self._frames, scored, timings) if "burst" in models else None
        speech = await speech_job
        frames = await frames_job if frames_job is not None else [None] * len(scored)
        started = time.perf_counter()
        out = []
        for (begin, seg), x_scored, feats, fr in zip(segments, scored, speech, frames, strict=True):
            end = begin + seg.size / SAMPLE_RATE
            prosody = burst = embedding = None
            if "prosody" in models:
                prosody = (
                    self.scorer.prosody.no_signal_result() if feats is None
                    else self.scorer.prosody.predict_features(feats, baseline)
                )
                embedding = (
                    np.zeros(self.scorer.embedding.dim, np.float32)
                    if feats is None
                    else self.scorer.embedding.embed_features(feats[None])[0]
                )
            if "burst" in models:
                burst = self.scorer.burst.no_signal_result() if feats is None else self.scorer.burst.predict(x_scored, speech=feats, frames=fr)
            out.append(SegmentPrediction(begin, end, prosody, burst, embedding))
        timings.add("heads", started)
        return out

    def _speech(self, segments: list[np.ndarray], timings: Timings) -> list[np.ndarray | None]:
        started = time.perf_counter()
        feats = [self.scorer.prosody.features.features(s) if has_signal(s) else None for s in segments]
        timings.add("whisper_encoder", started)
        return feats

    def _frames(self, segments: list[np.ndarray], timings: Timings) -> list[tuple[np.ndarray, np.ndarray] | None]:
        started = time.perf_counter()
        frames = [self.scorer.burst.frames(s) if has_signal(s) else None for s in segments]
        timings.add("yamnet", started)
        return frames

    async def score_text(self, text: str, granularity: Granularity, timings: Timings | None = None) -> list[TextPrediction]:
        timings = timings or Timings()
        spans = text_spans(text, granularity)
        inputs = [context for _, _, context in spans]
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        results = await loop.run_in_executor(self.pool, self.language.predict_batch, inputs)
        timings.add("language", started)
        return [TextPrediction(text[b:e], b, e, r) for (b, e, _), r in zip(spans, results, strict=True)]


_WORD = re.compile(r"\S+")


def text_spans(text: str, granularity: Granularity) -> list[tuple[int, int, str]]:
    """(begin, end, text to score) per prediction. ``word``: every word, scored together with up to
    WORD_CONTEXT - 1 words before it in its sentence; ``sentence``: each sentence; ``utterance``:
    each non-empty line; ``passage``: the whole text."""
    if granularity is Granularity.PASSAGE:
        return [(0, len(text), text)]
    if granularity is Granularity.UTTERANCE:
        out, pos = [], 0
        for line in text.split("\n"):
            stripped = line.strip()
            if stripped:
                begin = pos + line.index(stripped)
                out.append((begin, begin + len(stripped), stripped))
            pos += len(line) + 1
        return out
    sentences = _sentence_spans(text)
    if granularity is Granularity.SENTENCE:
        return [(b, e, text[b:e]) for b, e in sentences]
    out = []
    for b, e in sentences:
        words = [(b + m.start(), b + m.end()) for m in _WORD.finditer(text[b:e])]
        for i, (wb, we) in enumerate(words):
            first = words[max(0, i - WORD_CONTEXT + 1)][0]
            out.append((wb, we, text[first:we]))
    return out


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for sentence in text_sentences(text):
        begin = text.index(sentence, pos)
        spans.append((begin, begin + len(sentence)))
        pos = begin + len(sentence)
    return spans
