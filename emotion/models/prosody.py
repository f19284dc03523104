"""Prosody: how the speech sounds. A 2-s segment -> RAVDESS's eight emotions, valence and arousal.

Features are pooled Whisper encoder states (:mod:`emotion.speech_features`); the head is a
multinomial logistic regression trained speaker-independently on RAVDESS, clean and through a
simulated phone line (``emotion/training/prosody.py``; scores in docs/emotion-models.md).

Valence (-1..1) and arousal (0..1) are not learned: RAVDESS has no dimensional labels. They are
the probability-weighted average of fixed circumplex coordinates per category (``CIRCUMPLEX``), so
they move smoothly with the category probabilities and mean the same thing in every release.

Probabilities are temperature-calibrated (``temperature`` in the weights' JSON, fitted on
cross-validated predictions), and ``confidence`` says how far the reading is from a uniform guess.
Given a caller's :class:`~emotion.caller_baseline.CallerBaseline`, a segment is read against the
caller's own voice as well as in absolute terms (the rule is in emotion/caller_baseline.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion.audio import as_audio, has_signal
from emotion.caller_baseline import CallerBaseline
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
class Adaptation:
    """How a segment was read against its caller (emotion/caller_baseline.py)."""

    trust: float  # weight of the absolute reading, 0..1
    atypicality: float  # the caller's median: <= 0 like the training voices, >= 1 unlike them
    baseline_segments: int  # segments that have taught the caller's baseline
    absolute: dict[str, float]  # the absolute reading's probabilities
    absolute_valence: float
    absolute_arousal: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "trust": round(self.trust, 4), "atypicality": round(self.atypicality, 3), "baseline_segments": self.baseline_segments,
            "absolute": {"emotions": {k: round(v, 6) for k, v in self.absolute.items()},
                         "valence": round(self.absolute_valence, 4), "arousal": round(self.absolute_arousal, 4)},
        }


@dataclass(frozen=True)
class ProsodyResult:
    emotions: dict[str, float]  # sums to 1
    valence: float  # -1..1
    arousal: float  # 0..1
    no_signal: bool = False  # too short or too quiet to score: neutral defaults, consumers skip it
    confidence: float = 0.0  # 0 (uniform, no idea) .. 1 (certain): (p_top - 1/k) / (1 - 1/k), calibrated
    adaptation: Adaptation | None = None  # set when read against a caller's baseline
    top: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "top", max(self.emotions, key=self.emotions.__getitem__))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"emotions": self.emotions, "valence": self.valence, "arousal": self.arousal,
                               "confidence": self.confidence}
        if self.no_signal:
            out["no_signal"] = True
        if self.adaptation is not None:
            out["adaptation"] = self.adaptation.as_dict()
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
        self.temperature = float(meta.get("temperature", 1.0))
        coords = np.array([CIRCUMPLEX[e] for e in self.labels], dtype=np.float32)
        self._valence, self._arousal = coords[:, 0], coords[:, 1]
        self._resting = np.array([e in ("neutral", "calm") for e in self.labels])
        # Per-caller adaptation (emotion/caller_baseline.py): weights from before it read absolutely only.
        self.adapts = all(k in arrays for k in ("rel_coef", "rel_intercept", "rel_mean", "rel_scale", "reference", "typ_basis"))
        if self.adapts:
            self._rel_mean, self._rel_scale = arrays["rel_mean"].astype(np.float32), arrays["rel_scale"].astype(np.float32)
            self._rel_coef, self._rel_bias = arrays["rel_coef"].astype(np.float32), arrays["rel_intercept"].astype(np.float32)
            self._reference = arrays["reference"].astype(np.float32)
            self._typ_basis, self._typ_sd = arrays["typ_basis"].astype(np.float32), arrays["typ_sd"].astype(np.float32)
            if self._rel_coef.shape[0] != len(self.labels):
                raise ValueError(f"prosody weights have {self._rel_coef.shape[0]} relative rows for {len(self.labels)} labels")
            self.rel_temperature = float(meta.get("rel_temperature", 1.0))
            prior = np.array([meta["class_prior"][e] for e in self.labels], dtype=np.float64)
            self._train_prior = prior / prior.sum()
            typ = meta["typicality"]
            self._mahalanobis = tuple(float(v) for v in typ["mahalanobis"])  # training p90, p99
            self._residual = tuple(float(v) for v in typ["residual"])

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

    def predict_features(self, features: np.ndarray, baseline: CallerBaseline | None = None) -> ProsodyResult:
        """One segment's reading; with ``baseline`` (the caller's, updated here) it is adapted."""
        probs = self.probabilities(features[None])[0]
        if baseline is None or not self.adapts or not baseline.config.enabled:
            return self._result(probs)
        baseline.observe(float(self.atypicality(features[None])[0]))
        first_seconds = baseline.learned < baseline.config.learn_segments
        if first_seconds:
            baseline.learn(features, resting=1.0)  # the first seconds define the voice, this one included
        relative = self.relative_probabilities(features, baseline)
        if not first_seconds:
            rested = self.callers_prior(relative, baseline.config.resting_share)
            baseline.learn(features, resting=float(rested[self._resting].sum()))
        trust = baseline.trust()
        adaptation = Adaptation(
            trust, baseline.atypicality(), baseline.learned, as_scores(self.labels, probs),
            float(np.clip(probs @ self._valence, -1.0, 1.0)), float(np.clip(probs @ self._arousal, 0.0, 1.0)),
        )
        return self._result(self.callers_prior(trust * probs + (1.0 - trust) * relative, baseline.config.resting_share),
                            adaptation)

    def callers_prior(self, probs: np.ndarray, resting_share: float) -> np.ndarray:
        """Bayes' rule for a different base rate: the heads learned from actors whose recordings are
        a fifth resting (neutral, calm); callers rest far more often. ``resting_share`` of the
        prior goes to the resting categories (in the actors' proportions), the rest to the others."""
        resting = self._resting
        target = np.where(resting, resting_share * self._train_prior / self._train_prior[resting].sum(),
                          (1.0 - resting_share) * self._train_prior / self._train_prior[~resting].sum())
        p = probs * (target / self._train_prior)
        return p / p.sum()

    def _result(self, probs: np.ndarray, adaptation: Adaptation | None = None) -> ProsodyResult:
        k = len(self.labels)
        return ProsodyResult(
            as_scores(self.labels, probs),
            float(np.clip(probs @ self._valence, -1.0, 1.0)),
            float(np.clip(probs @ self._arousal, 0.0, 1.0)),
            confidence=round(float(np.clip((probs.max() - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)), 4),
            adaptation=adaptation,
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, dim) features -> (n, 8) calibrated category probabilities, read in absolute terms."""
        return softmax(self.logits(features) / self.temperature)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(n, dim) features -> (n, 8) the absolute head's logits, before calibration."""
        z = (features.astype(np.float32) - self._mean) / self._scale
        return z @ self._coef.T + self._bias

    def relative_probabilities(self, features: np.ndarray, baseline: CallerBaseline) -> np.ndarray:
        """One segment read against the caller's resting voice: moved by ``reference - baseline``."""
        shifted = features.astype(np.float32) - baseline.estimate(self._reference) + self._reference
        z = (shifted - self._rel_mean) / self._rel_scale
        return softmax((z @ self._rel_coef.T + self._rel_bias) / self.rel_temperature)

    def atypicality(self, features: np.ndarray) -> np.ndarray:
        """(n, dim) -> (n,) how unlike the training voices each segment is (emotion/caller_baseline.py
        rule 3): the larger of its Mahalanobis distance within the training features' leading
        principal components and its residual outside them, each scaled so that the training
        segments' 90th percentile is 0 and their 99th is 1."""
        mahalanobis, residual = typicality_distances(features, self._mean, self._scale, self._typ_basis, self._typ_sd)
        (m90, m99), (r90, r99) = self._mahalanobis, self._residual
        return np.maximum((mahalanobis - m90) / (m99 - m90), (residual - r90) / (r99 - r90))


def typicality_distances(
    features: np.ndarray, mean: np.ndarray, scale: np.ndarray, basis: np.ndarray, sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) standardised features -> Mahalanobis distance within the orthonormal ``basis``
    (principal components with standard deviations ``sd``) and the residual norm outside it."""
    z = (features.astype(np.float32) - mean) / scale
    coords = z @ basis.T
    return np.sqrt(((coords / sd) ** 2).sum(axis=1)), np.sqrt(((z - coords @ basis) ** 2).sum(axis=1))
