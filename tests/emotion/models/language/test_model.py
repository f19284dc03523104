"""Language model (emotion/models/language/model.py): committed weights on real text (GoEmotions, EmoBank and
Davidson test rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion.models.base import EmotionModel, TextInputError
from emotion.models.language import (
    MAX_TEXT_CHARS,
    SENTIMENT_KEYS,
    TOXICITY_KEYS,
    LanguageModel,
    LanguageResult,
)
from emotion.training.data import goemotions


@pytest.fixture(scope="module")
def model() -> LanguageModel:
    return LanguageModel.load()


def _sane(r: LanguageResult) -> None:
    assert len(r.emotions) == 28 and all(0.0 <= v <= 1.0 for v in r.emotions.values())
    assert list(r.sentiment) == list(SENTIMENT_KEYS)
    assert abs(sum(r.sentiment.values()) - 1.0) < 1e-6
    assert set(r.toxicity) == set(TOXICITY_KEYS) and all(0.0 <= v <= 1.0 for v in r.toxicity.values())
    assert -1.0 <= r.valence <= 1.0 and 0.0 <= r.arousal <= 1.0


def _expected_point(r: LanguageResult) -> float:
    return sum(int(k) * p for k, p in r.sentiment.items())


def test_scores_real_test_rows(model: LanguageModel, shared: Path) -> None:
    assert isinstance(model, EmotionModel)
    labels, rows = goemotions("test", shared)
    assert tuple(labels) == model.labels
    results = model.predict_batch([r.text for r in rows[:64]])
    for r in results:
        _sane(r)
    # The batch path and the single-text path agree.
    assert model.predict(rows[3].text).emotions == pytest.approx(results[3].emotions, abs=1e-5)
    assert model.score(rows[3].text) == pytest.approx(results[3].emotions, abs=1e-5)


def test_what_callers_say(model: LanguageModel) -> None:
    thanks = model.predict("Thank you so much, that really helps!")
    annoyed = model.predict("This is ridiculous, I've been on hold for an hour and nobody calls me back.")
    scared = model.predict("I'm really scared about what the scan will show.")
    confused = model.predict("Sorry, I don't understand, which form do I need?")
    assert max(thanks.emotions, key=thanks.emotions.get) == "gratitude"
    assert "gratitude" in thanks.detected
    assert annoyed.emotions["annoyance"] + annoyed.emotions["anger"] > 0.3
    assert scared.emotions["fear"] + scared.emotions["nervousness"] > 0.3
    assert confused.emotions["confusion"] > 0.2
    assert thanks.valence > 0.1 > annoyed.valence
    assert _expected_point(thanks) > _expected_point(annoyed) + 0.8
    assert annoyed.arousal > model.predict("The appointment is on Tuesday.").arousal - 0.05


def test_toxicity(model: LanguageModel) -> None:
    polite = model.predict("Could you please tell me when the clinic opens?")
    abusive = model.predict("You stupid useless bitch, put me through to a doctor now.")
    assert polite.toxicity["toxic"] < 0.3 and polite.toxicity["obscene"] < 0.3
    assert abusive.toxicity["toxic"] > 0.7 and abusive.toxicity["obscene"] > 0.7 and abusive.toxicity["insult"] > 0.5
    assert model.predict("I know where you live, you'll regret this.").toxicity["threat"] >= 0.8
    assert polite.toxicity["threat"] == 0.0


def test_garbage_and_long_text(model: LanguageModel) -> None:
    for empty in ("", "   \n\t "):
        r = model.predict(empty)
        assert r.no_signal and r.emotions["neutral"] == 1.0 and r.sentiment["5"] == 1.0
        _sane(r)
    with pytest.raises(TextInputError, match="limit of 10,000"):
        model.predict("word " * 20_000)  # 100 kB
    with pytest.raises(TextInputError, match="str"):
        model.predict(b"bytes")  # type: ignore[arg-type]
    _sane(model.predict("\x00\x07 ☎️🙂 ¿¡ \u200b"))
    # A long transcript (at the limit) is chunked by sentence, the most recent kept; every part is scored.
    long = ("Thanks so much for your help. " * 400)[: MAX_TEXT_CHARS - 41] + "But now I am furious and nobody answers!"
    assert len(long) <= MAX_TEXT_CHARS
    r = model.predict(long)
    _sane(r)
    chunks = model.chunks(long)
    assert 1 < len(chunks) <= 16 and chunks[-1].endswith("nobody answers!")  # the most recent words are kept
    assert all(model.encoder.count_tokens(c) <= 126 for c in chunks)
    assert r.emotions["gratitude"] > 0.5


@pytest.mark.slow
def test_committed_weights_keep_the_model_card_scores(model: LanguageModel) -> None:
    """Regression: GoEmotions/EmoBank/Davidson test sets through the inference path vs language.json."""
    from emotion.training.language import evaluate

    expected = model.meta["test"]
    got = evaluate(latency=False, plot=None)["test"]
    assert got["goemotions"]["macro_f1"] >= expected["goemotions"]["macro_f1"] - 0.01
    assert got["emobank"]["valence_r"] >= expected["emobank"]["valence_r"] - 0.02
    for head in ("toxic", "insult", "identity_hate"):
        assert got["davidson"][head]["roc_auc"] >= expected["davidson"][head]["roc_auc"] - 0.01
    assert got["goemotions"]["macro_f1"] > 0.40  # BERT-base published 0.46
    assert np.isfinite(got["emobank"]["arousal_r"])


def test_first_prediction_of_a_fresh_model_equals_later_ones() -> None:
    fresh = LanguageModel.load()
    text = "Thank you for clarifying. I was just thinking about how picky a lot of my family is."
    first = fresh.predict(text)
    assert fresh.chunks(text) == [text]
    assert first.emotions == pytest.approx(fresh.predict(text).emotions, abs=1e-6)
    assert first.emotions == pytest.approx(fresh.predict_batch([text, "hello"])[0].emotions, abs=1e-5)
    assert max(first.emotions, key=first.emotions.get) == "gratitude"
