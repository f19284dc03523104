"""The burst model's meaning head: one hidden layer from the burst feature vector to EmoGator's 30
categories, in numpy.

``p = softmax(W2 relu(W1 x + b1) + b2)``. Training (emotion/training/burst_affect.py) folds the
input standardisation into ``W1``/``b1`` and the calibration temperature into ``W2``/``b2``, so
inference is two matrix-vector products (4,494 x 512 and 512 x 30: about 0.1 ms on one core).
On EmoGator's held-out contributors it beats the linear head it replaces on every condition
(docs/emotion-models.md, section 2); ReLU rather than GELU so numpy computes exactly what torch
trained."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emotion.models.base import ModelLoadError, softmax

ARRAYS = ("affect_w1", "affect_b1", "affect_w2", "affect_b2")


@dataclass(frozen=True)
class AffectHead:
    w1: np.ndarray  # (hidden, dim), standardisation folded in
    b1: np.ndarray  # (hidden,)
    w2: np.ndarray  # (classes, hidden), 1/T folded in
    b2: np.ndarray  # (classes,)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], classes: int, dim: int) -> AffectHead:
        """The head from ``burst.npz``; a missing array or a shape that does not fit is a
        :class:`ModelLoadError` that says to rebuild the weights."""
        missing = [k for k in ARRAYS if k not in arrays]
        if missing:
            raise ModelLoadError(f"burst weights lack the affect head ({', '.join(missing)}): "
                                 "rebuild them with `bedside emotion train --only burst`")
        head = cls(*(np.ascontiguousarray(arrays[k], np.float32) for k in ARRAYS))
        hidden = head.w1.shape[0]
        if (head.w1.shape != (hidden, dim) or head.b1.shape != (hidden,) or head.w2.shape != (classes, hidden)
                or head.b2.shape != (classes,)):
            raise ModelLoadError(f"burst affect head shapes {[a.shape for a in head.arrays().values()]} do not fit "
                                 f"{dim} features and {classes} categories: rebuild the weights")
        return head

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(zip(ARRAYS, (self.w1, self.b1, self.w2, self.b2)))

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """Calibrated logits of one feature vector (dim,) or a batch (n, dim)."""
        hidden = np.maximum(feats @ self.w1.T + self.b1, 0.0)
        return hidden @ self.w2.T + self.b2

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        """Probabilities over the categories (rows sum to 1)."""
        return softmax(self.logits(feats))
