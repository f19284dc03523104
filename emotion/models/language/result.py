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
    # How much the words say about feeling, 0..1 (the evidence rule, :func:`evidence`): ``valence``
    # is already multiplied by it. 1 = an emotion detected; a plain 10-word sentence 0.91; "No." 0.5.
    confidence: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "emotions": dict(self.emotions),
            "sentiment": dict(self.sentiment),
            "toxicity": dict(self.toxicity),
            "valence": self.valence,
            "arousal": self.arousal,
            "confidence": self.confidence,
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
        confidence=0.0,
    )


def evidence(words: int, emotion_strength: float, words_half: float) -> float:
    """How much a text says about how its speaker feels, 0..1: the larger of

    * ``emotion_strength``: the strongest non-neutral emotion's probability over its detection
      threshold, capped at 1 (any emotion detected gives 1), and
    * ``words / (words + words_half)``: the valence and sentiment heads were fitted on sentences
      (EmoBank: news, letters, fiction); on one or two words they extrapolate, so a bare answer
      ("No.", "Morrow") is weak evidence however the regression leans.

    The model multiplies valence by it: weak evidence reads as neutral (0), never as a drift to
    either side; a short but clearly emotional text ("I'm in agony.") keeps its full valence."""
    if words <= 0:
        return 0.0
    return float(min(1.0, max(emotion_strength, words / (words + words_half))))

