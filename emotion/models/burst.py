"""Vocal bursts (laugh, sigh, cry, cough, ...) in a 2-second segment: YAMNet and Whisper states + two heads.

How a segment is scored (the model card, docs/emotion-models.md, has the numbers):

1. ``as_audio`` -> float32 16 kHz; too short (< 0.25 s) or too quiet (< -55 dBFS) is
   "no signal": ``none`` = 1.0, ``no_signal`` = True.
2. YAMNet (emotion/yamnet.py) on evenly spread 0.975-s windows (3 for a 2-s segment):
   per window 1024-d embeddings and 521 AudioSet scores, pooled over windows (mean and max);
   beside them, the pooled Whisper encoder states the prosody model reads
   (:mod:`emotion.speech_features`, computed once per segment and shared). On the nonverbal set's
   speaker-grouped CV, YAMNet alone reached macro-F1 0.70 clean / 0.48 through the phone channel,
   Whisper states alone 0.81 / 0.70, both together 0.83 / 0.71 (docs/emotion-models.md).
3. A multinomial logistic-regression head (standardise -> W x + b -> softmax), trained on the
   Deeply Nonverbal sample set's 16 classes plus ``none`` (speech, noise, near-silence), gives
   17 head probabilities. The head is plain arrays in ``weights/burst.npz``; no scikit-learn here.
4. The mapping rule (its parameters are in ``weights/burst.json`` under ``mapping``) turns them
   into the full label set, using YAMNet's own AudioSet scores (max over windows):

   * family split: a head class whose family has sub-types (laugh -> laugh/giggle/chuckle,
     cry -> cry/whimper, moan -> moan/groan, pant -> pant/breath/gasp/wheeze,
     scream -> scream/shout, nose_blow -> nose_blow/sniff/snort) shares its probability
     among the members in proportion to ``s_m + alpha * [m is the head class]``, where ``s_m`` is
     the member's YAMNet score. The head class keeps the larger part unless YAMNet hears the
     sub-type more strongly than the head class by more than ``alpha``.
   * YAMNet-only types (grunt, hiccup, hum, whistle, burp, snore) have no training clips; each
     takes ``g_t = clip((s_t - tau_t) / (1 - tau_t), 0, 1)`` of its evidence from ``none``:
     ``none`` gives up ``p_none * min(1, sum g)``, shared in proportion to ``g_t``. ``tau_t`` is
     calibrated on training speech and noise (so that ordinary speech does not trigger it).

   The result is a distribution over ``labels`` (sums to 1).
5. The burst's meaning (``affect``): a second head on the same feature vector, one hidden layer
   (:mod:`emotion.models.affect_head`), gives a distribution over EmoGator's 30 categories (pain, distress, relief, amusement ...; names as
   EmoGator writes them, :data:`EMOGATOR_CATEGORIES`), temperature-calibrated. Its valence and
   arousal are the probability-weighted mean of the fixed positions in :data:`AFFECT_CIRCUMPLEX`.
   It is computed for every segment with signal (it reads what *kind* of sound it is; whether
   it is a burst at all is ``emotions['none']``), and is Neutral without signal."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion.audio import as_audio, has_signal
from emotion.models.affect_head import AffectHead
from emotion.models.base import ModelLoadError, load_weights, softmax
from emotion.models.burst_labels import (
    AFFECT_CIRCUMPLEX,
    EMOGATOR_CATEGORIES,
    FAMILIES,
    HEAD_LABELS,
    NEUTRAL_AFFECT,
    NONE,
    NONVERBAL_LABELS,
    YAMNET_ONLY,
    output_labels,
)
from emotion.speech_features import FEATURE_VERSION, SpeechFeatures

NAME = "burst"

def pool_features(scores: np.ndarray, emb: np.ndarray, score_idx: np.ndarray) -> np.ndarray:
    """Per-window YAMNet outputs (n, 521), (n, 1024) -> one feature vector: embedding mean and max,
    then the selected classes' scores as log-odds, mean and max."""
    s = np.clip(scores[:, score_idx].astype(np.float64), 1e-4, 1 - 1e-4)
    logit = np.log(s / (1 - s))
    return np.concatenate([emb.mean(0), emb.max(0), logit.mean(0), logit.max(0)]).astype(np.float32)


_AFFECT_VA = np.array([AFFECT_CIRCUMPLEX[c] for c in EMOGATOR_CATEGORIES], np.float64)


def neutral_affect() -> dict[str, float]:
    return {c: float(c == NEUTRAL_AFFECT) for c in EMOGATOR_CATEGORIES}


def affect_valence_arousal(p: np.ndarray) -> tuple[float, float]:
    """Probability-weighted mean of the categories' circumplex positions (p over EMOGATOR_CATEGORIES)."""
    v, a = np.asarray(p, np.float64) @ _AFFECT_VA
    return float(v), float(a)


_NEUTRAL_VA = AFFECT_CIRCUMPLEX[NEUTRAL_AFFECT]


@dataclass(frozen=True)
class BurstResult:
    """One segment's scores: ``emotions`` over the model's labels (sums to 1), ``top`` the best
    label (``none`` when nothing bursts), ``no_signal`` when the audio was too short or quiet;
    ``affect`` over EmoGator's 30 categories (sums to 1) with its ``affect_valence`` (-1..1) and
    ``affect_arousal`` (0..1)."""

    emotions: dict[str, float]
    no_signal: bool = False
    top: str = NONE
    head: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    affect: dict[str, float] = field(default_factory=neutral_affect)
    affect_valence: float = _NEUTRAL_VA[0]
    affect_arousal: float = _NEUTRAL_VA[1]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "emotions": dict(self.emotions),
            "affect": dict(self.affect),
            "affect_valence": self.affect_valence,
            "affect_arousal": self.affect_arousal,
        }
        if self.no_signal:
            out["no_signal"] = True
        return out


class Mapper:
    """The documented rule from 17 head probabilities + YAMNet scores to the full label set."""

    def __init__(self, mapping: dict[str, Any], class_names: tuple[str, ...] | list[str]) -> None:
        index = {name: i for i, name in enumerate(class_names)}

        def idx(names: list[str]) -> np.ndarray:
            missing = [n for n in names if n not in index]
            if missing:
                raise ModelLoadError(f"YAMNet class map lacks {missing}")
            return np.array([index[n] for n in names], dtype=np.int64)

        self.labels: tuple[str, ...] = tuple(mapping["labels"])
        self.head_labels: tuple[str, ...] = tuple(mapping["head_labels"])
        self.alpha = float(mapping["alpha"])
        self._pos = {label: i for i, label in enumerate(self.labels)}
        self._families = {
            head: [(self._pos[m], idx(names)) for m, names in members] for head, members in mapping["families"].items()
        }
        self._only = [(self._pos[t], idx(names), float(mapping["tau"][t])) for t, names in mapping["yamnet_only"].items()]
        self._head_pos = [self._pos[h] for h in self.head_labels]
        self._none_head = self.head_labels.index(NONE)

    @staticmethod
    def evidence(scores_max: np.ndarray, idx: np.ndarray) -> float:
        return float(scores_max[idx].max()) if idx.size else 0.0

    def __call__(self, p_head: np.ndarray, scores_max: np.ndarray) -> np.ndarray:
        """p_head (17,) sums to 1, scores_max (521,) the max of YAMNet's scores over windows."""
        out = np.zeros(len(self.labels), np.float64)
        for h, pos in zip(self.head_labels, self._head_pos):
            family = self._families.get(h)
            p = float(p_head[self.head_labels.index(h)])
            if not family:
                out[pos] += p
                continue
            w = np.array([self.evidence(scores_max, ix) for _, ix in family], np.float64)
            w[0] += self.alpha
            w = w / w.sum()
            for (mpos, _), share in zip(family, w):
                out[mpos] += p * share
        g = np.array([np.clip((self.evidence(scores_max, ix) - tau) / (1 - tau), 0.0, 1.0) for _, ix, tau in self._only])
        if g.size and g.sum() > 0:
            none_pos = self._pos[NONE]
            take = out[none_pos] * min(1.0, float(g.sum()))
            out[none_pos] -= take
            for (tpos, _, _), gt in zip(self._only, g):
                out[tpos] += take * gt / g.sum()
        out = np.clip(out, 0.0, None)
        return out / out.sum()


class BurstModel:
    """``score(pcm, sample_rate)`` -> {label: probability} over ``labels`` (sums to 1)."""

    name = NAME

    def __init__(
        self, arrays: dict[str, np.ndarray], meta: dict[str, Any], yamnet=None, speech: SpeechFeatures | None = None
    ) -> None:
        try:
            self.mean = arrays["mean"].astype(np.float32)
            self.scale = arrays["scale"].astype(np.float32)
            self.coef = arrays["coef"].astype(np.float32)
            self.intercept = arrays["intercept"].astype(np.float32)
            self.score_idx = arrays["score_idx"].astype(np.int64)
            self.hop_s = float(meta["features"]["hop_s"])
            mapping = meta["mapping"]
            affect_labels = tuple(meta["affect"]["labels"])
        except KeyError as exc:
            raise ModelLoadError(f"burst weights lack {exc}: rebuild them with `bedside emotion train --only burst`") from None
        if self.coef.shape != (len(mapping["head_labels"]), self.mean.size):
            raise ModelLoadError(f"burst head shape {self.coef.shape} does not match its metadata")
        if affect_labels != EMOGATOR_CATEGORIES:
            raise ModelLoadError("burst affect head does not match EmoGator's 30 categories: rebuild the weights")
        # the meaning head: standardisation and temperature are folded into its arrays at training
        self.affect_head = AffectHead.from_arrays(arrays, len(EMOGATOR_CATEGORIES), self.mean.size)
        if meta["features"].get("speech") != FEATURE_VERSION:
            raise ModelLoadError(
                f"burst weights were trained on speech features {meta['features'].get('speech')!r}, this code computes "
                f"{FEATURE_VERSION!r}: rebuild them with `bedside emotion train --only burst`"
            )
        self.meta = meta
        if yamnet is None:
            from emotion import yamnet as yamnet_module

            yamnet = yamnet_module.load()
        self.yamnet = yamnet
        self.speech = speech or SpeechFeatures()
        self.mapper = Mapper(mapping, yamnet.class_names)
        self.labels: tuple[str, ...] = self.mapper.labels
        self.head_labels: tuple[str, ...] = self.mapper.head_labels
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path | None = None, speech: SpeechFeatures | None = None) -> BurstModel:
        arrays, meta = load_weights(NAME, directory)
        return cls(arrays, meta, speech=speech)

    # -- the pieces, also used by training/evaluation -------------------------------------------
    def frames(self, x16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """YAMNet's per-window (scores, embeddings) of a segment, as this head was trained on."""
        return self.yamnet.frames(x16k, self.hop_s)

    def features(
        self, x16k: np.ndarray, speech: np.ndarray | None = None, frames: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(feature vector, max YAMNet scores over windows) of float32 16 kHz audio. ``speech`` (the
        segment's pooled Whisper states) and ``frames`` (:meth:`frames`) may be computed by the caller,
        e.g. on two threads at once (the emotion service does)."""
        scores, emb = frames if frames is not None else self.frames(x16k)
        if speech is None:
            speech = self.speech.features(x16k)
        return np.concatenate([pool_features(scores, emb, self.score_idx), speech]), scores.max(0)

    def head(self, feats: np.ndarray) -> np.ndarray:
        z = (feats - self.mean) / self.scale
        return softmax(z @ self.coef.T + self.intercept)

    def affect(self, feats: np.ndarray) -> np.ndarray:
        """Probabilities over EMOGATOR_CATEGORIES (calibrated; see the module docstring)."""
        return self.affect_head(feats)

    def no_signal_result(self) -> BurstResult:
        emotions = {label: 0.0 for label in self.labels}
        emotions[NONE] = 1.0
        return BurstResult(emotions, no_signal=True, top=NONE)

    # -- public ----------------------------------------------------------------------------------
    def predict(
        self,
        pcm: bytes | np.ndarray,
        sample_rate: int = 16000,
        speech: np.ndarray | None = None,
        frames: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> BurstResult:
        x = as_audio(pcm, sample_rate)
        if not has_signal(x):
            return self.no_signal_result()
        feats, scores_max = self.features(x, speech, frames)
        p_head = self.head(feats)
        dist = self.mapper(p_head, scores_max)
        emotions = {label: float(v) for label, v in zip(self.labels, dist)}
        top = self.labels[int(np.argmax(dist))]
        p_affect = self.affect(feats)
        valence, arousal = affect_valence_arousal(p_affect)
        return BurstResult(
            emotions, no_signal=False, top=top, head=dict(zip(self.head_labels, map(float, p_head))),
            affect={c: float(v) for c, v in zip(EMOGATOR_CATEGORIES, p_affect)}, affect_valence=valence, affect_arousal=arousal,
        )

    def score(self, pcm: bytes | np.ndarray, sample_rate: int = 16000) -> dict[str, float]:
        return self.predict(pcm, sample_rate).emotions


__all__ = ["AFFECT_CIRCUMPLEX", "EMOGATOR_CATEGORIES", "BurstModel", "BurstResult", "FAMILIES", "HEAD_LABELS", "NONVERBAL_LABELS", "YAMNET_ONLY", "affect_valence_arousal",
           "neutral_affect", "output_labels"]
