"""Pieces of the language training: thresholds, soft sentiment labels, the Davidson split, ridge, the
written caller phrases, the head refit, calibration and the caller summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion.training.language import (
    NEGATIVE_CHECK,
    ORDINARY_CHECK,
    asr_form,
    calibrate,
    conversation_rows,
    davidson_split,
    davidson_targets,
    distil_head,
    emotion_calibration,
    f1_per_class,
    reading_summary,
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


# --- ordinary callers: written phrases, head refit, calibration, the caller summary -----------------
def test_written_phrases_are_labelled_and_disjoint_from_the_checks() -> None:
    from emotion.models.base import load_weights

    labels = load_weights("language")[1]["labels"]
    assert len(labels) == 28 and labels[-1] == "neutral"
    rows = conversation_rows(labels)
    assert len(rows) > 250 and all(ids for _, ids in rows)
    assert ("no", (27,)) in rows and ("No.", (27,)) in rows  # the phrase and its ASR form
    trained = {asr_form(t) for t, _ in rows}
    held_out = {asr_form(t) for t in (*ORDINARY_CHECK, *NEGATIVE_CHECK)}
    assert not trained & held_out  # the checks are not training text
    assert asr_form("No, that's all, thank you.") == "no that's all thank you"


def test_distillation_keeps_the_head_and_learns_the_phrases() -> None:
    rng = np.random.default_rng(0)
    w0, b0 = 0.5 * rng.normal(size=(3, 8)), rng.normal(size=3)
    x = rng.normal(size=(2000, 8))
    phrase = rng.normal(size=(5, 8)) * 0.3 + 2.0  # off the data: the head can learn them without moving much
    before = 1 / (1 + np.exp(-(phrase @ w0.T + b0)))
    target = np.tile([0.0, 0.0, 1.0], (5, 1))
    w, b = distil_head(x, w0, b0, phrase, target, conversation_weight=20.0)
    after = 1 / (1 + np.exp(-(phrase @ w.T + b)))
    assert np.abs(after - target).mean() < 0.6 * np.abs(before - target).mean()
    kept = 1 / (1 + np.exp(-(x @ w.T + b))), 1 / (1 + np.exp(-(x @ w0.T + b0)))
    assert np.abs(kept[0] - kept[1]).mean() < 0.05


def test_calibrate_cools_an_overconfident_head() -> None:
    rng = np.random.default_rng(2)
    truth = rng.normal(size=(4000, 4))
    y = (rng.random(truth.shape) < 1 / (1 + np.exp(-truth))).astype(np.float32)
    t, thresholds, info = calibrate(3.0 * truth, y)  # logits 3x too sharp
    assert t == pytest.approx(3.0, rel=0.15)
    assert info["dev_binary_ece"]["after"] < info["dev_binary_ece"]["before"]
    assert thresholds.shape == (4,) and ((thresholds >= 0.03) & (thresholds <= 0.9)).all()


def test_emotion_calibration_recovers_the_uncalibrated_probabilities(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(3000, 5)) * 3
    y = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits / 2))).astype(np.float32)
    cal = emotion_calibration(1 / (1 + np.exp(-logits / 2)), y, 2.0, tmp_path / "r.png")
    assert cal["binary_ece"]["after"] < 0.03 < cal["binary_ece"]["before"]  # T = 1 reads 2x too sure
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_reading_summary() -> None:
    from emotion.models.language import LanguageResult

    def r(v: float, detected: tuple[str, ...] = (), toxic: float = 0.0) -> LanguageResult:
        return LanguageResult({}, {}, {"toxic": toxic}, v, 0.5, detected=detected)

    s = reading_summary([r(0.1), r(-0.2), r(0.0, ("disapproval", "neutral")), r(0.0, ("gratitude",), 0.6)], ["a", "b", "c", "d"])
    assert s["utterances"] == 4
    assert s["share_valence_below_-0.15"] == 0.25 and s["share_negative_emotion"] == 0.25 and s["share_toxic_at_0.5"] == 0.25
    assert s["misread"] == ["b", "c", "d"] and s["valence_mean"] == pytest.approx(-0.025)


def test_words_half_is_the_one_the_script_chooses(shared: Path) -> None:
    from emotion.models.language import LanguageModel
    from emotion.training.language import WORDS_HALF_GRID, choose_words_half

    model = LanguageModel.load()
    chosen, table = choose_words_half(model, shared)
    assert chosen == model.words_half and chosen in WORDS_HALF_GRID
    assert set(table) == {"None", *map(str, WORDS_HALF_GRID)}
    # Shrinking never buys GetGoing's p10 at EmoBank's expense beyond the allowed loss.
    assert table[str(chosen)]["emobank_dev_valence_r"] >= table["None"]["emobank_dev_valence_r"] - 0.001
    assert table[str(chosen)]["getgoing_dev_valence_p10"] >= table["None"]["getgoing_dev_valence_p10"]
