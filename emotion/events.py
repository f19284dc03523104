"""What the emotion subsystem tells a call: plain frozen data, no behaviour.

A :class:`Reading` is one model's view of one stretch of the call (a 2-s segment for prosody and
burst, an utterance for language). The rolling window turns readings into an
:class:`EmotionUpdate`, the event the agent consumes after every change of state."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    PROSODY = "prosody"
    BURST = "burst"
    LANGUAGE = "language"


class Trend(StrEnum):
    IMPROVING = "improving"
    STABLE = "stable"
    DETERIORATING = "deteriorating"


class UpdateSource(StrEnum):
    """Why an update was emitted."""

    READING = "reading"  # a model scored a segment or an utterance
    DEFAULTS = "defaults"  # emotion is unavailable (breaker open): workspace defaults
    RECOVERED = "recovered"  # the service is back; the window resumes


@dataclass(frozen=True)
class Reading:
    channel: Channel
    at_s: float  # call time of the end of the scored audio/utterance
    valence: float  # -1..1
    arousal: float  # 0..1
    weight: float = 1.0  # 0..1: how much to trust it (a burst's probability; 1 for speech)
    emotions: tuple[tuple[str, float], ...] = ()  # the model's category scores, for top emotions
    burst: str | None = None  # the burst type, for burst readings
    meaning: tuple[str, float] | None = None  # a burst's top affect category (EmoGator's name) and its score


@dataclass(frozen=True)
class EmotionScore:
    channel: Channel  # prosody (the voice) or language (the words)
    name: str  # e.g. "sad", "annoyance"
    score: float


@dataclass(frozen=True)
class BurstEvent:
    name: str  # the burst type: sigh, groan, laugh, ...
    at_s: float
    score: float
    meaning: str | None = None  # what it meant, EmoGator's category name: Pain, Relief, Amusement, ...
    meaning_score: float = 0.0


@dataclass(frozen=True)
class EmotionUpdate:
    """The caller's emotional state after a change. Valence -1..1, arousal 0..1, coherence 0..1
    (1 when the channels agree or only one has spoken), trend with its slope in valence per minute."""

    call_id: str
    at_s: float
    valence: float
    arousal: float
    trend: Trend
    slope_per_min: float
    coherence: float
    source: UpdateSource
    available: bool = True  # False: workspace defaults, the models are not being heard
    channels: dict[Channel, float] = field(default_factory=dict)  # each channel's windowed valence
    top_emotions: tuple[EmotionScore, ...] = ()  # the voice's and the words' best categories, best first
    recent_bursts: tuple[BurstEvent, ...] = ()  # newest last, within the window
    readings: int = 0  # readings in the window

    @property
    def last_burst(self) -> BurstEvent | None:
        return self.recent_bursts[-1] if self.recent_bursts else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for logs at DEBUG and the call record (no transcript text in it)."""
        return {
            "at_s": round(self.at_s, 3),
            "valence": round(self.valence, 4),
            "arousal": round(self.arousal, 4),
            "trend": str(self.trend),
            "slope_per_min": round(self.slope_per_min, 4),
            "coherence": round(self.coherence, 4),
            "source": str(self.source),
            "available": self.available,
            "channels": {str(k): round(v, 4) for k, v in self.channels.items()},
            "top_emotions": [{"channel": str(e.channel), "name": e.name, "score": round(e.score, 4)} for e in self.top_emotions],
            "recent_bursts": [
                {"name": b.name, "at_s": round(b.at_s, 3), "score": round(b.score, 4), "meaning": b.meaning,
                 "meaning_score": round(b.meaning_score, 4)}
                for b in self.recent_bursts
            ],
            "readings": self.readings,
        }
