"""The one logistic-regression solver every emotion head is trained with."""

from __future__ import annotations

import numpy as np
import pytest

from emotion.training.common import fit_logistic, head_logits


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 5)) * 3
    y = rng.integers(0, 3, 300)
    return (centres[y] + rng.normal(size=(300, 5))).astype(np.float32), y


def test_learns_separable_classes_and_keeps_a_missing_class() -> None:
    x, y = _data()
    w, b = fit_logistic(x, y, c=1.0, classes=4)  # class 3 never occurs (as in a CV fold)
    assert w.shape == (4, 5) and b.shape == (4,) and w.dtype == np.float32
    assert ((x @ w.T + b).argmax(1) == y).mean() > 0.95


def test_one_hot_soft_labels_are_the_hard_labels() -> None:
    x, y = _data(1)
    hard = fit_logistic(x, y, c=0.5, classes=3)
    soft = fit_logistic(x, np.eye(3)[y], c=0.5)
    assert np.allclose(hard[0], soft[0], atol=1e-3) and np.allclose(hard[1], soft[1], atol=1e-3)


def test_a_row_weighing_two_counts_as_that_row_twice() -> None:
    x, y = _data(2)
    weight = np.ones(len(y))
    weight[:50] = 2.0
    weighted = fit_logistic(x, y, c=0.5, classes=3, weight=weight * len(y) / (len(y) + 50))
    doubled = fit_logistic(np.concatenate([x, x[:50]]), np.concatenate([y, y[:50]]), c=0.5 * len(y) / (len(y) + 50), classes=3)
    assert np.allclose(weighted[0], doubled[0], atol=2e-3)


def test_stronger_regularisation_shrinks_the_weights() -> None:
    x, y = _data(3)
    assert np.abs(fit_logistic(x, y, c=0.001, classes=3)[0]).sum() < np.abs(fit_logistic(x, y, c=1.0, classes=3)[0]).sum()


def test_head_logits_standardise_first() -> None:
    head = {"mean": np.array([1.0, 2.0]), "scale": np.array([2.0, 4.0]), "coef": np.eye(2), "intercept": np.array([0.5, 0.0])}
    assert head_logits(head, np.array([[3.0, 6.0]])) == pytest.approx(np.array([[1.5, 1.0]]))
