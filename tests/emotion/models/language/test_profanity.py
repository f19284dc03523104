"""The exported alt-profanity-check model (emotion/models/language/profanity.py) vs the package itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotion.models.base import load_weights
from emotion.models.language import NAME, Profanity
from emotion.training.data import goemotions


@pytest.fixture(scope="module")
def profanity() -> Profanity:
    return Profanity(load_weights(NAME)[0])


def test_profanity_export_matches_the_package(profanity: Profanity) -> None:
    from profanity_check import predict_prob

    texts = ["what the fuck is this", "hello, I'd like to book", "you are a damn idiot", "shit happens", ""]
    assert profanity.prob(texts) == pytest.approx(predict_prob(texts), abs=1e-4)


def test_profanity_export_matches_the_package_on_real_text(profanity: Profanity, shared: Path) -> None:
    from profanity_check import predict_prob

    _, rows = goemotions("test", shared)
    texts = [r.text for r in rows[:500]]
    assert profanity.prob(texts) == pytest.approx(predict_prob(texts), abs=1e-4)
