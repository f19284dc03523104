"""Temperature scaling, ECE and reliability bins on synthetic predictions with a known truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion.models.base import softmax
from emotion.training.calibration import (
    binary_ece,
    ece,
    fit_binary_temperature,
    fit_temperature,
    reliability,
    reliability_plot,
    reliability_table,
)


def _sampled(true_t: float, n: int = 4000, k: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(logits / true_t): the right temperature is true_t."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 4
    p = softmax(logits / true_t)
    labels = np.array([rng.choice(k, p=row) for row in p])
    return logits, labels


def test_temperature_recovers_overconfidence() -> None:
    logits, labels = _sampled(true_t=2.5)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(2.5, rel=0.15)
    assert ece(softmax(logits / t), labels) < 0.03 < ece(softmax(logits), labels)


def test_temperature_never_changes_the_top_label() -> None:
    logits, labels = _sampled(true_t=0.5, seed=1)
    t = fit_temperature(logits, labels)
    assert t < 1
    assert np.array_equal(softmax(logits).argmax(1), softmax(logits / t).argmax(1))


def test_binary_temperature_and_ece() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3000, 4)) * 3
    targets = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits / 3))).astype(float)
    t = fit_binary_temperature(logits, targets)
    assert t == pytest.approx(3.0, rel=0.15)
    assert binary_ece(1 / (1 + np.exp(-logits / t)), targets) < binary_ece(1 / (1 + np.exp(-logits)), targets)


def test_reliability_bins_count_everything_and_print(tmp_path: Path) -> None:
    logits, labels = _sampled(true_t=1.0, n=500)
    bins = reliability(softmax(logits), labels, bins=10)
    assert sum(b.count for b in bins) == 500
    table = reliability_table({"model": bins})
    assert table.count("\n") == 11 and "0.9-1.0" in table
    out = reliability_plot({"model": bins}, "test", tmp_path / "r.png")
    if out is not None:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
