"""Vocal-burst model: committed head on real nonverbal clips from speakers it was not trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion.audio import AudioInputError, load_audio
from emotion.models.base import EmotionModel
from emotion.models.burst import NONE, NONVERBAL_LABELS, BurstModel, output_labels
from emotion.training.burst import HELD_OUT_FOLD, nonverbal_folds
from emotion.training.data import nonverbal_clips, ravdess_clips


@pytest.fixture(scope="module")
def model() -> BurstModel:
    return BurstModel.load()


@pytest.fixture(scope="module")
def held_out(shared: Path) -> list:
    folds = nonverbal_folds(shared)
    return [c for c in nonverbal_clips(shared) if folds[c.speaker] == HELD_OUT_FOLD]


def _sane(result) -> None:
    assert abs(sum(result.emotions.values()) - 1.0) < 1e-5
    assert all(0.0 <= v <= 1.0 for v in result.emotions.values())


def test_label_set(model: BurstModel) -> None:
    assert isinstance(model, EmotionModel)
    labels = model.labels
    assert labels == output_labels() and labels[-1] == NONE
    assert len(labels) - 1 >= 25
    for needed in ("laugh", "giggle", "chuckle", "sigh", "cry", "whimper", "moan", "groan", "grunt", "gasp", "pant",
                   "breath", "wheeze", "cough", "throat_clear", "sneeze", "sniff", "snort", "hiccup", "yawn",
                   "scream", "shout", "hum", "whistle", "tongue_click", "lip_smack"):
        assert needed in labels, needed


def test_held_out_speakers(model: BurstModel, held_out: list) -> None:
    """Unseen speakers' bursts: most are recognised as their own family, sums are 1."""
    hits = 0
    for clip in held_out:
        result = model.predict(load_audio(clip.path)[:32000])
        _sane(result)
        from emotion.training.burst import collapse

        hits += collapse(result.top) == NONVERBAL_LABELS[clip.label]
    assert hits / len(held_out) > 0.6


def test_speech_is_not_a_burst(model: BurstModel, shared: Path) -> None:
    clips = [c for c in ravdess_clips(shared) if c.actor in (21, 24)][::12]
    tops = [model.predict(load_audio(c.path)[8000:40000]).top for c in clips]
    assert np.mean([t == NONE for t in tops]) >= 0.8


def test_no_signal_and_garbage(model: BurstModel, shared: Path) -> None:
    for x in (np.zeros(0, np.float32), np.full(1600, 0.3, np.float32), np.zeros(32000, np.float32)):
        r = model.predict(x)
        assert r.no_signal and r.top == NONE and r.emotions[NONE] == 1.0
    with pytest.raises(AudioInputError):
        model.predict(np.array([np.nan] * 32000, np.float32))
    laugh = load_audio(next(c for c in nonverbal_clips(shared) if c.label == "laughing").path)[:32000]
    _sane(model.predict(np.clip(laugh * 30, -1, 1)))  # clipped
    import soxr

    r = model.predict(soxr.resample(laugh, 16000, 8000), sample_rate=8000)  # 8 kHz
    _sane(r)
    assert not r.no_signal


@pytest.mark.slow
def test_committed_weights_keep_the_model_card_scores(model: BurstModel) -> None:
    """Regression: held-out speakers' bursts + RAVDESS actors 21-24, per 2-s segment, vs burst.json."""
    from emotion.training.burst import REGRESSION_SOURCES, evaluate_model, heldout_specs

    specs = heldout_specs(sources=REGRESSION_SOURCES)
    got = evaluate_model(model, specs, "clean", progress=False)["segments"]["macro_f1"]
    assert got >= model.meta["regression_macro_f1"] - 0.02
