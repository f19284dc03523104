"""Audio embedding: unit vectors whose neighbours share the manner of speaking, not the speaker or words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion.audio import load_audio
from emotion.models.embedding import EmbeddingModel
from emotion.training.data import ravdess_clips
from emotion.training.ravdess_features import HELD_OUT_ACTORS, speech_crop


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    return EmbeddingModel.load()


@pytest.fixture(scope="module")
def held_out(shared: Path, model: EmbeddingModel) -> tuple[list, np.ndarray]:
    clips = [c for c in ravdess_clips(shared) if c.actor in HELD_OUT_ACTORS and c.strong]
    return clips, np.array([model.embed(speech_crop(load_audio(c.path))) for c in clips])


def test_unit_vectors(model: EmbeddingModel, held_out: tuple[list, np.ndarray]) -> None:
    _, vectors = held_out
    assert vectors.shape[1] == model.dim == 64
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len(model.score(np.zeros(32000, np.float32))) == 64
    assert not np.any(model.embed(np.zeros(32000, np.float32)))  # no signal -> zero vector


def test_how_not_what_or_who(held_out: tuple[list, np.ndarray]) -> None:
    """Across speakers, same emotion with different words is closer than same words with a different emotion."""
    clips, v = held_out
    sim = v @ v.T
    same_emotion_other_words, other_emotion_same_words = [], []
    for i, a in enumerate(clips):
        for j, b in enumerate(clips):
            if a.actor == b.actor:
                continue
            if a.emotion == b.emotion and a.statement != b.statement:
                same_emotion_other_words.append(sim[i, j])
            elif a.emotion != b.emotion and a.statement == b.statement:
                other_emotion_same_words.append(sim[i, j])
    assert np.mean(same_emotion_other_words) > np.mean(other_emotion_same_words) + 0.2


@pytest.mark.slow
def test_committed_weights_keep_the_model_card_retrieval(model: EmbeddingModel) -> None:
    from emotion.training.embedding import evaluate

    expected = model.meta["held_out"]
    got = evaluate()["held_out"]
    for condition in ("clean", "phone"):
        assert got[condition]["precision_at_10"] >= expected[condition]["precision_at_10"] - 0.03, condition
    assert got["clean"]["precision_at_10"] > 0.35  # chance is ~0.13
