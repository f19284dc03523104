"""A per-deployment calibration of the voice's reading, fitted from QA's corrections.

The models were trained on actors; a clinic's callers, phones and lines differ, and QA hears
where the reading is wrong ("not angry — neutral", "this was a sigh"). ``bedside emotion
calibrate`` (agent/app/emotion_calibrate.py) fits this from the corrections kept in the records;
the emotion service applies it to every 2-s segment's prosody reading, and picks a new file up
while running (:class:`CalibrationFile`). Two parts:

1. **A map of the scales**: valence and arousal each through ``scale * x + offset``, fitted by
   least squares toward what QA said, with a ridge toward the identity (``RIDGE`` pseudo-moments
   where nothing changes), so a handful of corrections moves it only a little.
2. **Exemplars**: each corrected segment's audio embedding with what QA said it was. A new
   segment that sounds like one (cosine similarity at or above ``threshold``) is pulled toward it,
   the more the closer: ``pull = (similarity - threshold) / (1 - threshold)``. This is what makes
   the corrected moment, and the moments that sound like it, read as QA said. An exemplar with a
   burst label names the segment's burst when it pulls at least half-way.
3. **A map of the words' valence**, fitted the same way from corrections of utterances (the
   language model's reading; no words are kept, so there are no exemplars for them).

No PHI in the file: scales, embeddings (how moments sounded) and labels."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RIDGE = 4.0  # pseudo-moments at the identity: fewer corrections than this barely move the scales
DEFAULT_THRESHOLD = 0.9  # cosine similarity from which an exemplar pulls
BURST_PULL = 0.5  # an exemplar names the burst only when it pulls at least this far
FORMAT = 1


@dataclass(frozen=True)
class Example:
    """One corrected segment: what the models read, what QA said, and how it sounded."""

    model_valence: float
    model_arousal: float
    valence: float  # QA's, on the model's scale
    arousal: float | None  # QA's, when the label says (distressed); None: as read
    burst: str | None = None  # QA's burst type, "none" for no burst, None: not said
    embedding: np.ndarray | None = None  # unit length
    group: str = ""  # the call: held-back parts are whole calls


@dataclass(frozen=True)
class Reading:
    valence: float
    arousal: float
    burst: str | None  # an exemplar's burst label, when one pulled at least BURST_PULL
    pull: float  # 0: no exemplar was close; 1: the reading is the exemplar's


@dataclass(frozen=True)
class DeploymentCalibration:
    valence_scale: float = 1.0
    valence_offset: float = 0.0
    arousal_scale: float = 1.0
    arousal_offset: float = 0.0
    threshold: float = DEFAULT_THRESHOLD
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (n, dim), unit rows
    valences: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    arousals: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # NaN: keep the reading's
    bursts: tuple[str | None, ...] = ()
    language_scale: float = 1.0
    language_offset: float = 0.0
    corrections: int = 0  # how many it was fitted from
    fitted_at: str = ""

    def apply(self, valence: float, arousal: float, embedding: np.ndarray | None = None) -> Reading:
        v = float(np.clip(self.valence_scale * valence + self.valence_offset, -1.0, 1.0))
        a = float(np.clip(self.arousal_scale * arousal + self.arousal_offset, 0.0, 1.0))
        if embedding is None or not len(self.valences) or embedding.shape[-1] != self.embeddings.shape[1]:
            return Reading(v, a, None, 0.0)
        norm = float(np.linalg.norm(embedding))
        if not np.isfinite(norm) or norm == 0:
            return Reading(v, a, None, 0.0)
        similarity = self.embeddings @ (embedding.astype(np.float32) / norm)
        best = int(np.argmax(similarity))
        pull = float(np.clip((similarity[best] - self.threshold) / (1.0 - self.threshold), 0.0, 1.0))
        if pull == 0.0:
            return Reading(v, a, None, 0.0)
        target_a = float(self.arousals[best]) if np.isfinite(self.arousals[best]) else a
        burst = self.bursts[best] if pull >= BURST_PULL else None
        return Reading((1 - pull) * v + pull * float(self.valences[best]), (1 - pull) * a + pull * target_a, burst, pull)

    def apply_language(self, valence: float) -> float:
        """The words' valence as this deployment's QA reads it."""
        return float(np.clip(self.language_scale * valence + self.language_offset, -1.0, 1.0))

    # ---- the file ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT, "fitted_at": self.fitted_at, "corrections": self.corrections, "threshold": self.threshold,
            "valence": {"scale": self.valence_scale, "offset": self.valence_offset},
            "arousal": {"scale": self.arousal_scale, "offset": self.arousal_offset},
            "language": {"scale": self.language_scale, "offset": self.language_offset},
            "exemplars": [
                {"valence": round(float(v), 4), "arousal": None if not np.isfinite(a) else round(float(a), 4), "burst": b,
                 "embedding": [round(float(x), 6) for x in e]}
                for e, v, a, b in zip(self.embeddings, self.valences, self.arousals, self.bursts, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> DeploymentCalibration:
        """ValueError for a file that is not one (wrong format, shapes that do not agree)."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not a calibration of format {FORMAT}")
        exemplars = data["exemplars"]
        dims = {len(x["embedding"]) for x in exemplars}
        if len(dims) > 1:
            raise ValueError("exemplars of different sizes")
        embeddings = np.array([x["embedding"] for x in exemplars], np.float32).reshape(len(exemplars), dims.pop() if dims else 0)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return cls(
            valence_scale=float(data["valence"]["scale"]), valence_offset=float(data["valence"]["offset"]),
            arousal_scale=float(data["arousal"]["scale"]), arousal_offset=float(data["arousal"]["offset"]),
            threshold=float(data["threshold"]), embeddings=embeddings / np.maximum(norms, 1e-8),
            valences=np.array([x["valence"] for x in exemplars], np.float32),
            arousals=np.array([np.nan if x["arousal"] is None else x["arousal"] for x in exemplars], np.float32),
            bursts=tuple(x["burst"] for x in exemplars), corrections=int(data["corrections"]),
            language_scale=float(data.get("language", {}).get("scale", 1.0)),
            language_offset=float(data.get("language", {}).get("offset", 0.0)),
            fitted_at=str(data.get("fitted_at", "")),
        )

    def save(self, path: Path) -> None:
        """Written whole, then renamed: a running service never reads half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        part.write_text(json.dumps(self.to_json()))
        os.replace(part, path)

    @classmethod
    def load(cls, path: Path) -> DeploymentCalibration:
        """OSError, ValueError (or KeyError/TypeError for a malformed one) say what is wrong."""
        return cls.from_json(json.loads(path.read_text()))


def _affine(x: np.ndarray, t: np.ndarray, ridge: float) -> tuple[float, float]:
    """argmin over (s, o) of sum (s x + o - t)^2 + ridge ((s - 1)^2 + o^2)."""
    a = np.array([[np.dot(x, x) + ridge, x.sum()], [x.sum(), len(x) + ridge]])
    b = np.array([np.dot(x, t) + ridge, t.sum()])
    scale, offset = np.linalg.solve(a, b)
    return float(scale), float(offset)


def fit(examples: Sequence[Example], threshold: float = DEFAULT_THRESHOLD, ridge: float = RIDGE,
        fitted_at: str = "", words: Sequence[Example] = ()) -> DeploymentCalibration:
    """The calibration these corrections call for (the identity for none); ``words``: corrections
    of utterances, for the words' valence."""
    l_scale, l_offset = 1.0, 0.0
    if words:
        l_scale, l_offset = _affine(np.array([e.model_valence for e in words]), np.array([e.valence for e in words]), ridge)
    if not examples:
        return DeploymentCalibration(threshold=threshold, fitted_at=fitted_at, language_scale=l_scale,
                                     language_offset=l_offset, corrections=len(words))
    v_scale, v_offset = _affine(np.array([e.model_valence for e in examples]), np.array([e.valence for e in examples]), ridge)
    aroused = [e for e in examples if e.arousal is not None]
    a_scale, a_offset = 1.0, 0.0
    if aroused:
        a_scale, a_offset = _affine(np.array([e.model_arousal for e in aroused]), np.array([e.arousal for e in aroused]), ridge)
    kept = [e for e in examples if e.embedding is not None]
    dim = kept[0].embedding.shape[-1] if kept else 0
    return DeploymentCalibration(
        valence_scale=v_scale, valence_offset=v_offset, arousal_scale=a_scale, arousal_offset=a_offset, threshold=threshold,
        embeddings=np.array([e.embedding for e in kept], np.float32).reshape(len(kept), dim),
        valences=np.array([e.valence for e in kept], np.float32),
        arousals=np.array([np.nan if e.arousal is None else e.arousal for e in kept], np.float32),
        bursts=tuple(e.burst for e in kept), corrections=len(examples) + len(words), fitted_at=fitted_at,
        language_scale=l_scale, language_offset=l_offset,
    )


@dataclass(frozen=True)
class Agreement:
    """How well readings agree with QA on some corrections."""

    moments: int
    valence_error: float  # mean absolute difference from QA's valence
    affect_agreement: float  # share whose reading falls on QA's side (negative / neutral / positive)
    burst_agreement: float | None  # share of burst-labelled ones read as that burst (None: none labelled)


SIDE = 0.25  # half-way between QA's neutral (0) and negative/positive (∓0.5, agent/services/records/corrections.py)


def side_of(valence: float) -> int:
    """Which side of neutral a reading is on, as QA labels it: -1, 0 or +1."""
    return -1 if valence < -SIDE else 1 if valence > SIDE else 0


def agreement(examples: Sequence[Example], calibration: DeploymentCalibration | None,
              model_bursts: Sequence[str | None] | None = None, words: bool = False) -> Agreement:
    """``calibration`` None: the models as they read; ``model_bursts``: what they read as burst;
    ``words``: these are utterances (the words' valence map applies)."""
    errors, sides, bursts = [], [], []
    for i, e in enumerate(examples):
        if calibration is None:
            reading = Reading(e.model_valence, e.model_arousal, None, 0.0)
        elif words:
            reading = Reading(calibration.apply_language(e.model_valence), e.model_arousal, None, 0.0)
        else:
            reading = calibration.apply(e.model_valence, e.model_arousal, e.embedding)
        errors.append(abs(reading.valence - e.valence))
        sides.append(side_of(reading.valence) == side_of(e.valence))
        if e.burst is not None:
            said = reading.burst or (model_bursts[i] if model_bursts is not None else None)
            bursts.append(said == e.burst)
    return Agreement(len(examples), float(np.mean(errors)) if errors else 0.0, float(np.mean(sides)) if sides else 0.0,
                     float(np.mean(bursts)) if bursts else None)


class CalibrationFile:
    """The service's view of the calibration file: loaded when it appears or changes (checked at
    most every ``check_every_s``, a stat), kept when a new one does not load (the error is
    reported once), dropped when the file is removed."""

    def __init__(self, path: Path | None, check_every_s: float = 2.0, on_event=None) -> None:
        self.path = path
        self.check_every_s = check_every_s
        self.on_event = on_event or (lambda event, **fields: None)
        self._checked = -float("inf")
        self._stamp: tuple[int, int] | None = None
        self._current: DeploymentCalibration | None = None

    def current(self) -> DeploymentCalibration | None:
        if self.path is None:
            return None
        now = time.monotonic()
        if now - self._checked < self.check_every_s:
            return self._current
        self._checked = now
        try:
            st = self.path.stat()
        except OSError:
            if self._current is not None:
                self.on_event("calibration_removed", path=str(self.path))
            self._current, self._stamp = None, None
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._current = DeploymentCalibration.load(self.path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.on_event("calibration_unreadable", path=str(self.path), error=f"{type(exc).__name__}: {exc}")
            else:
                self.on_event("calibration_loaded", path=str(self.path), corrections=self._current.corrections,
                              exemplars=len(self._current.valences), fitted_at=self._current.fitted_at)
        return self._current


__all__ = ["Agreement", "CalibrationFile", "DeploymentCalibration", "Example", "Reading", "agreement", "fit", "side_of"]
