"""A call's emotional timeline, for the call record: what was measured, when, and nothing said.

Stored per call, in memory, for the length of the call (the agent hands it to the call record):
per 2-s segment the prosody category scores and what they are read as (a named emotion or
"unsure"), valence, arousal, burst type and score and the 64-d audio embedding; per utterance the language valence, arousal and top emotions (no text);
every window state (:class:`EmotionUpdate`) and breaker transition. ``as_dict`` is JSON-ready."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emotion.events import EmotionUpdate
from emotion.readings import UNSURE


@dataclass(frozen=True)
class SegmentEntry:
    begin_s: float
    end_s: float
    prosody: dict[str, float]
    valence: float
    arousal: float
    burst: str  # the burst type, "none" when there was none
    burst_score: float
    embedding: tuple[float, ...]
    reading: str = UNSURE  # the named emotion (emotion.readings.named_emotion), or UNSURE


@dataclass(frozen=True)
class UtteranceEntry:
    at_s: float
    valence: float
    arousal: float
    top_emotions: tuple[tuple[str, float], ...]
    toxicity: dict[str, float]


@dataclass
class Timeline:
    call_id: str
    segments: list[SegmentEntry] = field(default_factory=list)
    utterances: list[UtteranceEntry] = field(default_factory=list)
    states: list[EmotionUpdate] = field(default_factory=list)
    breaker: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bursts(self) -> list[SegmentEntry]:
        return [s for s in self.segments if s.burst != "none"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "segments": [
                {
                    "begin_s": round(s.begin_s, 3), "end_s": round(s.end_s, 3),
                    "prosody": {k: round(v, 4) for k, v in s.prosody.items()}, "reading": s.reading,
                    "valence": round(s.valence, 4), "arousal": round(s.arousal, 4),
                    "burst": s.burst, "burst_score": round(s.burst_score, 4),
                    "embedding": [round(v, 5) for v in s.embedding],
                }
                for s in self.segments
            ],
            "utterances": [
                {"at_s": round(u.at_s, 3), "valence": round(u.valence, 4), "arousal": round(u.arousal, 4),
                 "top_emotions": [[n, round(v, 4)] for n, v in u.top_emotions],
                 "toxicity": {k: round(v, 4) for k, v in u.toxicity.items()}}
                for u in self.utterances
            ],
            "states": [s.as_dict() for s in self.states],
            "breaker": self.breaker,
        }
