"""Prosody: how the speech sounds. A 2-s segment -> RAVDESS's eight emotions, valence and arousal.

Features are pooled Whisper encoder states (:mod:`emotion.speech_features`); the head is a
multinomial logistic regression trained speaker-independently on RAVDESS, clean and through a
simulated phone line (``emotion/training/prosody.py``; scores in docs/emotion-models.md).

Valence (-1..1) and arousal (0..1) are not learned: RAVDESS has no dimensional labels. They are
the probability-weighted average of fixed circumplex coordinates per category (``CIRCUMPLEX``), so
they move smoothly with the category probabilities and mean the same thing in every release."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion.audio import as_audio, has_signal
from emotion.models.base import as_scores, load_weights, softmax
from emotion.speech_features import SpeechFeatures
from telephony.audio import SAMPLE_RATE

# (valence -1..1, arousal 0..1), hand-placed on Russell's circumplex of affect (1980).
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.35),
    "calm": (0.35, 0.15),
    "happy": (0.8, 0.65),
    "sad": (-0.7, 0.25),
    "angry": (-0.65, 0.9),
    "fearful": (-0.6, 0.8),
    "disgust": (-0.7, 0.55),
    "surprised": (0.25, 0.85),
}


@dataclass(frozen=True)
class ProsodyResult:
    emotions: dict[str, float]  # sums to 1
    valence: float  # -1..1
    arousal: float  # 0..1
    no_signal: bool = False  # too short or too quiet to score: neutral defaults, consumers skip it
    top: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "top", max(self.emotions, key=self.emotions.__getitem__))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"emotions": self.emotions, "valence": self.valence, "arousal": self.arousal}
        if self.no_signal:
            out["no_signal"] = True
        return out


def no_signal_result(labels: tuple[str, ...]) -> ProsodyResult:
    """Neutral with valence 0 and arousal 0, over the model's ``labels``."""
    return ProsodyResult({e: float(e == "neutral") for e in labels}, 0.0, 0.0, no_signal=True)


class ProsodyModel:
    """The head's categories (``labels``) come with its weights: ``labels`` in ``weights/prosody.json``,
    in the order of the head's rows (training writes RAVDESS's eight, emotion/training/prosody.py)."""

    name = "prosody"

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], features: SpeechFeatures) -> None:
        self.labels: tuple[str, ...] = tuple(meta["labels"])
        unknown = [e for e in self.labels if e not in CIRCUMPLEX]
        if unknown or "neutral" not in self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"prosody weights have labels {meta['labels']}: each must be one of {tuple(CIRCUMPLEX)}, "
                             "once, neutral included")
        if arrays["coef"].shape[0] != len(self.labels) or arrays["intercept"].shape[0] != len(self.labels):
            raise ValueError(f"prosody weights have {arrays['coef'].shape[0]} rows for {len(self.labels)} labels")
        self.meta = meta
        self.features = features
        self._mean, self._scale = arrays["mean"].astype(np.float32), arrays["scale"].astype(np.float32)
        self._coef, self._bias = arrays["coef"].astype(np.float32), arrays["intercept"].astype(np.float32)
        coords = np.array([CIRCUMPLEX[e] for e in self.labels], dtype=np.float32)
        self._valence, self._arousal = coords[:, 0], coords[:, 1]

    @classmethod
    def load(cls, directory: Path | None = None, features: SpeechFeatures | None = None) -> ProsodyModel:
        arrays, meta = load_weights(cls.name, directory)
        return cls(arrays, meta, features or SpeechFeatures())

    def no_signal_result(self) -> ProsodyResult:
        return no_signal_result(self.labels)

    def score(self, pcm: bytes | np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
        return self.predict(pcm, sample_rate).emotions

    def predict(self, pcm: bytes | np.ndarray, sample_rate: int = SAMPLE_RATE) -> ProsodyResult:
        x = as_audio(pcm, sample_rate)
        if not has_signal(x):
            return self.no_signal_result()
        return self.predict_features(self.features.features(x))

    def predict_features(self, features: np.ndarray) -> ProsodyResult:
        probs = self.probabilities(features[None])[0]
        return ProsodyResult(
            as_scores(self.labels, probs),
            float(np.clip(probs @ self._valence, -1.0, 1.0)),
            float(np.clip(probs @ self._arousal, 0.0, 1.0)),
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, dim) features -> (n, 8) category probabilities."""
        z = (features.astype(np.float32) - self._mean) / self._scale
        return softmax(z @ self._coef.T + self._bias)
