"""The documented rule from 17 head probabilities + YAMNet scores to 32 burst types + none."""

from __future__ import annotations

import numpy as np
import pytest

from emotion import yamnet
from emotion.models.burst import HEAD_LABELS, NONE, Mapper, output_labels
from emotion.training.burst import mapping_table


@pytest.fixture(scope="module")
def names() -> tuple[str, ...]:
    return yamnet.class_names()


@pytest.fixture(scope="module")
def mapper(names: tuple[str, ...]) -> Mapper:
    taus = {"grunt": 0.3, "hiccup": 0.3, "hum": 0.3, "whistle": 0.3, "burp": 0.3, "snore": 0.3}
    return Mapper(mapping_table(taus, alpha=0.5), names)


def _head(label: str) -> np.ndarray:
    p = np.zeros(len(HEAD_LABELS))
    p[HEAD_LABELS.index(label)] = 1.0
    return p


def test_family_split_follows_yamnet(mapper: Mapper, names: tuple[str, ...]) -> None:
    scores = np.zeros(len(names))
    out = dict(zip(output_labels(), mapper(_head("laugh"), scores)))
    assert out["laugh"] == pytest.approx(1.0)  # no YAMNet evidence: the head class keeps it all
    scores[names.index("Giggle")] = 0.9
    out = dict(zip(output_labels(), mapper(_head("laugh"), scores)))
    assert out["giggle"] > out["laugh"] and out["giggle"] + out["laugh"] + out["chuckle"] == pytest.approx(1.0)


def test_yamnet_only_types_take_from_none(mapper: Mapper, names: tuple[str, ...]) -> None:
    scores = np.zeros(len(names))
    scores[names.index("Hiccup")] = 0.2  # under tau: nothing moves
    assert dict(zip(output_labels(), mapper(_head(NONE), scores)))[NONE] == pytest.approx(1.0)
    scores[names.index("Hiccup")] = 0.9
    out = dict(zip(output_labels(), mapper(_head(NONE), scores)))
    assert out["hiccup"] == pytest.approx((0.9 - 0.3) / 0.7) and out[NONE] == pytest.approx(1 - out["hiccup"])
    cough = dict(zip(output_labels(), mapper(_head("cough"), scores)))
    assert cough["cough"] == pytest.approx(1.0)  # a burst the head is sure of is left alone


def test_always_a_distribution(mapper: Mapper, names: tuple[str, ...]) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.dirichlet(np.ones(len(HEAD_LABELS)))
        out = mapper(p, rng.random(len(names)))
        assert out.shape == (len(output_labels()),) and np.all(out >= 0) and out.sum() == pytest.approx(1.0)
