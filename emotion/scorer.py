"""Scoring audio with all three audio models at once: prosody, vocal burst and the embedding.

All three share one Whisper encoding per segment; the burst model also runs YAMNet.
A file is cut into 2-s segments (:func:`emotion.audio.split_segments`) and summarised by one
aggregate, by this rule:

* prosody: the average of the segments' category probabilities, valence, arousal and confidence, weighted by
  segment length; segments without signal (silence, < 0.25 s) do not count;
* burst: the distribution of the most burst-like segment (lowest ``none``), so a single sigh in a
  long file is not averaged away; its ``affect`` (EmoGator's 30 categories, valence, arousal)
  comes with it, so the meaning printed is that burst's;
* embedding: the re-normalised mean of the segments' vectors (with signal).

A file with no scorable segment gets the no-signal results (``no_signal: true``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emotion.audio import as_audio, has_signal, load_audio, split_segments
from emotion.models.burst import BurstModel, BurstResult
from emotion.models.embedding import EmbeddingModel
from emotion.models.prosody import ProsodyModel, ProsodyResult, no_signal_result
from emotion.speech_features import SpeechFeatures
from telephony.audio import SAMPLE_RATE


@dataclass(frozen=True)
class SegmentScores:
    begin: float  # seconds from the start of the file
    end: float
    prosody: ProsodyResult
    burst: BurstResult
    embedding: np.ndarray  # unit vector, or zeros without signal

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": {"begin": round(self.begin, 3), "end": round(self.end, 3)},
            "prosody": self.prosody.as_dict(),
            "burst": self.burst.as_dict(),
            "embedding": [round(float(v), 5) for v in self.embedding],
        }


@dataclass(frozen=True)
class FileScores:
    prosody: ProsodyResult
    burst: BurstResult
    embedding: np.ndarray
    segments: list[SegmentScores]

    def as_dict(self) -> dict[str, Any]:
        return {
            "prosody": self.prosody.as_dict(),
            "burst": self.burst.as_dict(),
            "embedding": [round(float(v), 5) for v in self.embedding],
            "segments": [s.as_dict() for s in self.segments],
        }


class AudioScorer:
    """Loads the three audio models once (sharing the encoder) and scores segments or files."""

    def __init__(self, prosody: ProsodyModel, burst: BurstModel, embedding: EmbeddingModel) -> None:
        self.prosody, self.burst, self.embedding = prosody, burst, embedding

    @classmethod
    def load(cls, directory: Path | None = None) -> AudioScorer:
        features = SpeechFeatures()
        return cls(
            ProsodyModel.load(directory, features),
            BurstModel.load(directory, features),
            EmbeddingModel.load(directory, features),
        )

    def score_segment(self, pcm: bytes | np.ndarray, sample_rate: int = SAMPLE_RATE, begin: float = 0.0) -> SegmentScores:
        x = as_audio(pcm, sample_rate)
        end = begin + x.size / SAMPLE_RATE
        if not has_signal(x):
            return SegmentScores(begin, end, self.prosody.no_signal_result(), self.burst.predict(x), np.zeros(self.embedding.dim, np.float32))
        feats = self.prosody.features.features(x)
        return SegmentScores(
            begin, end,
            self.prosody.predict_features(feats),
            self.burst.predict(x, speech=feats),
            self.embedding.embed_features(feats[None])[0],
        )

    def score_audio(self, x: np.ndarray) -> FileScores:
        segments = [self.score_segment(seg, begin=start) for start, seg in split_segments(x)]
        return aggregate(segments, self.embedding.dim, self.prosody.labels)

    def score_file(self, path: str | Path) -> FileScores:
        return self.score_audio(load_audio(path))


def aggregate(segments: list[SegmentScores], dim: int, labels: tuple[str, ...]) -> FileScores:
    """One summary per file, by the rule in the module docstring; ``labels``: the prosody model's."""
    burst = min(segments, key=lambda s: s.burst.emotions.get("none", 1.0)).burst
    voiced = [s for s in segments if not s.prosody.no_signal]
    if not voiced:
        return FileScores(no_signal_result(labels), burst, np.zeros(dim, np.float32), segments)
    weights = np.array([s.end - s.begin for s in voiced])
    weights = weights / weights.sum()
    probs = sum(w * np.array([s.prosody.emotions[e] for e in labels]) for w, s in zip(weights, voiced))
    prosody = ProsodyResult(
        {e: float(p) for e, p in zip(labels, probs)},
        float(sum(w * s.prosody.valence for w, s in zip(weights, voiced))),
        float(sum(w * s.prosody.arousal for w, s in zip(weights, voiced))),
        confidence=round(float(sum(w * s.prosody.confidence for w, s in zip(weights, voiced))), 4),
    )
    mean = np.mean([s.embedding for s in voiced], axis=0)
    embedding = (mean / max(float(np.linalg.norm(mean)), 1e-8)).astype(np.float32)
    return FileScores(prosody, burst, embedding, segments)
