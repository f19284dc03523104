"""How much an answer of the emotion service counts in the caller's rolling window, and what a
burst adds to it: the two rules the call's client applies to every prediction it is sent back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emotion.burst_meaning import BurstMeaning

MIN_EVIDENCE = 0.05  # a reading the model is unsure of still counts a little (the window's prior keeps it near neutral)
UNSURE = "unsure"  # what a segment is read as when no emotion is more likely than not


def evidence(prediction: dict[str, Any]) -> float:
    """A reading's weight in the window: the model's calibrated ``confidence`` (a service that does
    not send one counts fully, as before)."""
    return clip(prediction.get("confidence", 1.0), MIN_EVIDENCE, 1.0)


def named_emotion(scores: Mapping[str, float], min_probability: float) -> str:
    """What a segment is read as: its top emotion when the (calibrated) model gives it at least
    ``min_probability``, else :data:`UNSURE`. A 0.34 "sad" beside a 0.30 "neutral" is weak evidence,
    and weak evidence is read as unsure, never as a negative emotion (the window weighs it little)."""
    if not scores:
        return UNSURE
    name, score = max(scores.items(), key=lambda kv: float(kv[1]))
    return str(name) if float(score) >= min_probability else UNSURE


def burst_reading(meaning: BurstMeaning, prediction: dict[str, Any]) -> tuple[float, float, tuple[str, float] | None]:
    """A burst's valence, arousal and top meaning: the mean of what its type usually means (the
    burst table) and what the model heard in this one (its affect over EmoGator's categories), so
    a groan of pain and a groan of effort, or a sigh of relief and one of distress, are read apart.
    Without an affect (an older service) the type's meaning alone."""
    affect = prediction.get("affect")
    if not isinstance(affect, dict) or not affect or "affect_valence" not in prediction:
        return meaning.valence, meaning.arousal, None
    name, score = max(affect.items(), key=lambda kv: float(kv[1]))
    valence = (meaning.valence + clip(prediction["affect_valence"], -1, 1)) / 2.0
    arousal = (meaning.arousal + clip(prediction.get("affect_arousal", meaning.arousal), 0, 1)) / 2.0
    return valence, arousal, (str(name), clip(score, 0, 1))


def clip(v: Any, lo: float, hi: float) -> float:
    """A number from a service answer, as a float within [lo, hi]."""
    return float(min(hi, max(lo, float(v))))
