from __future__ import annotations

import numpy as np
import pytest

from emotion.models.affect_head import AffectHead
from emotion.models.base import ModelLoadError


def _head(dim: int = 6, hidden: int = 4, classes: int = 3) -> AffectHead:
    rng = np.random.default_rng(0)
    return AffectHead(rng.normal(size=(hidden, dim)).astype(np.float32), rng.normal(size=hidden).astype(np.float32),
                      rng.normal(size=(classes, hidden)).astype(np.float32), rng.normal(size=classes).astype(np.float32))


def test_probabilities_are_the_relu_network() -> None:
    head = _head()
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    hidden = np.maximum(x @ head.w1.T + head.b1, 0)
    expected = np.exp(hidden @ head.w2.T + head.b2)
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(head(x), expected, atol=1e-6)
    assert np.allclose(head(x[0]), expected[0], atol=1e-6)  # one vector as well as a batch
    assert np.allclose(head(x).sum(1), 1.0)


def test_arrays_round_trip_and_bad_weights_say_rebuild() -> None:
    head = _head()
    again = AffectHead.from_arrays(head.arrays(), classes=3, dim=6)
    assert all(np.array_equal(a, b) for a, b in zip(head.arrays().values(), again.arrays().values()))
    with pytest.raises(ModelLoadError, match="rebuild"):
        AffectHead.from_arrays({k: v for k, v in head.arrays().items() if k != "affect_w2"}, classes=3, dim=6)
    with pytest.raises(ModelLoadError, match="rebuild"):
        AffectHead.from_arrays(head.arrays(), classes=30, dim=6)  # the old 30-category count, these weights have 3
    with pytest.raises(ModelLoadError, match="rebuild"):
        AffectHead.from_arrays(head.arrays(), classes=3, dim=4494)
