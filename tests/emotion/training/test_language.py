"""Pieces of the language training: thresholds, soft sentiment labels, the Davidson split, ridge."""

from __future__ import annotations

import numpy as np
import pytest

from emotion.training.language import (
    davidson_split,
    davidson_targets,
    f1_per_class,
    ridge,
    sentiment_targets,
    tune_thresholds,
)


def test_thresholds_maximise_dev_f1() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((400, 2)) < 0.2).astype(np.float32)
    # Class 0's positives score around 0.3, class 1's around 0.7: the best cuts differ.
    probs = np.where(y == 1, [0.3, 0.7], [0.1, 0.4]) + rng.normal(0, 0.03, y.shape)
    thr = tune_thresholds(y, probs)
    assert 0.15 < thr[0] < 0.3 and 0.45 < thr[1] < 0.7
    assert f1_per_class(y, (probs >= thr).astype(np.float32)).min() > 0.95


def test_f1_edge_cases() -> None:
    y = np.array([[1, 0], [0, 0]], np.float32)
    assert f1_per_class(y, y).tolist() == [1.0, 0.0]  # a class never present nor predicted scores 0


def test_sentiment_targets_are_centred_distributions() -> None:
    t = sentiment_targets(np.array([1.0, 3.0, 5.0, 2.2]))
    assert t.shape == (4, 9) and np.allclose(t.sum(1), 1.0)
    assert t[0].argmax() == 0 and t[1].argmax() == 4 and t[2].argmax() == 8
    assert t[3] @ np.arange(1, 10) == pytest.approx(1 + 2 * 1.2, abs=0.15)


def test_davidson_split_is_stratified_and_fixed() -> None:
    labels = np.array([0] * 100 + [1] * 700 + [2] * 200)
    split = davidson_split(len(labels), labels)
    assert (split == davidson_split(len(labels), labels)).all()
    for c in (0, 1, 2):
        share = np.mean(split[labels == c] == "test")
        assert share == pytest.approx(0.1, abs=0.01)
    assert davidson_targets(np.array([0, 1, 2])).tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 0]]


def test_ridge_recovers_a_linear_map() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 5))
    y = x @ np.array([[1.0, -2.0, 0.0, 0.5, 0.0], [0.0, 1.0, 1.0, 0.0, -1.0]]).T + [3.0, 1.0]
    w, b = ridge(x, y, 1e-6)
    assert np.allclose(w @ x[:3].T + b[:, None], y[:3].T, atol=0.05)
