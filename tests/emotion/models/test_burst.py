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


# -- the burst's meaning: EmoGator's 30 categories -------------------------------------------------
def _sane_affect(result) -> None:
    from emotion.models.burst import EMOGATOR_CATEGORIES

    assert tuple(result.affect) == EMOGATOR_CATEGORIES  # EmoGator's names, in its order
    assert abs(sum(result.affect.values()) - 1.0) < 1e-5 and all(0.0 <= v <= 1.0 for v in result.affect.values())
    assert -1.0 <= result.affect_valence <= 1.0 and 0.0 <= result.affect_arousal <= 1.0


def test_affect_names_ranges_and_json(model: BurstModel, shared: Path) -> None:
    from emotion.models.burst_labels import AFFECT_CIRCUMPLEX

    laugh = load_audio(next(c for c in nonverbal_clips(shared) if c.label == "laughing").path)[:32000]
    r = model.predict(laugh)
    _sane_affect(r)
    # valence/arousal are the probability-weighted circumplex positions
    assert r.affect_valence == pytest.approx(sum(p * AFFECT_CIRCUMPLEX[c][0] for c, p in r.affect.items()), abs=1e-5)
    assert r.affect_arousal == pytest.approx(sum(p * AFFECT_CIRCUMPLEX[c][1] for c, p in r.affect.items()), abs=1e-5)
    d = r.as_dict()
    assert d["affect"] == r.affect and d["affect_valence"] == r.affect_valence and d["affect_arousal"] == r.affect_arousal
    assert model.meta["affect"]["labels"] == list(r.affect)


def test_no_signal_affect_is_neutral(model: BurstModel) -> None:
    r = model.predict(np.zeros(32000, np.float32))
    assert r.no_signal and r.affect["Neutral"] == 1.0 and sum(r.affect.values()) == 1.0
    assert r.affect_valence == 0.0 and 0.0 <= r.affect_arousal <= 1.0
    assert r.as_dict()["affect"]["Neutral"] == 1.0


@pytest.fixture(scope="module")
def emogator_held_out(shared: Path) -> list:
    from emotion.training import emogator

    clips = emogator.emogator_clips(shared)
    groups = emogator.contributor_groups(clips)
    return [c for c in clips if groups[c.contributor] == emogator.HELD_OUT_GROUP]


def test_held_out_contributors_amusement_and_pain(model: BurstModel, emogator_held_out: list) -> None:
    """Unseen contributors' laughs read as amusement and pleasant, their pain sounds as pain-like and unpleasant."""
    from emotion.training.emogator import normalise, pad_segment

    def run(category: str) -> list:
        clips = [c for c in emogator_held_out if c.category == category and c.take == 1][:12]
        return [model.predict(pad_segment(normalise(load_audio(c.path)))) for c in clips]

    amused, pained = run("Amusement"), run("Pain")
    for r in amused + pained:
        _sane_affect(r)
    top3 = lambda r: sorted(r.affect, key=r.affect.get)[-3:]  # noqa: E731
    assert np.mean(["Amusement" in top3(r) for r in amused]) >= 0.6
    assert np.mean(["Pain" in top3(r) for r in pained]) >= 0.4
    assert np.mean([r.affect_valence for r in amused]) > 0.2
    assert np.mean([r.affect_valence for r in pained]) < -0.1
    assert np.mean([r.affect_valence for r in amused]) - np.mean([r.affect_valence for r in pained]) > 0.4
