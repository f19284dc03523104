"""What the language model answers for one text: :class:`LanguageResult`, and its no-signal default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SENTIMENT_KEYS = tuple(str(i) for i in range(1, 10))
TOXICITY_KEYS = ("toxic", "insult", "obscene", "identity_hate", "threat")


@dataclass(frozen=True)
class LanguageResult:
    emotions: dict[str, float]
    sentiment: dict[str, float]
    toxicity: dict[str, float]
    valence: float
    arousal: float
    no_signal: bool = False
    detected: tuple[str, ...] = field(default=())  # emotions at or over their dev-tuned threshold

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "emotions": dict(self.emotions),
            "sentiment": dict(self.sentiment),
            "toxicity": dict(self.toxicity),
            "valence": self.valence,
            "arousal": self.arousal,
        }
        if self.no_signal:
            out["no_signal"] = True
        return out


def no_signal_result(labels: tuple[str, ...]) -> LanguageResult:
    """The defined answer for empty or whitespace-only text: neutral, mid sentiment, nothing toxic."""
    return LanguageResult(
        emotions={k: (1.0 if k == "neutral" else 0.0) for k in labels},
        sentiment={k: (1.0 if k == "5" else 0.0) for k in SENTIMENT_KEYS},
        toxicity={k: 0.0 for k in TOXICITY_KEYS},
        valence=0.0,
        arousal=0.0,
        no_signal=True,
        detected=(),
    )
