"""The numpy TF-IDF heads (emotion/models/language/tfidf.py) equal scikit-learn's on the same vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from emotion.models.language import TfidfLinear, clean_social, word_tokens

DOCS = [
    "I need to move my appointment to next week.",
    "Nobody calls me back, nobody answers, this is ridiculous!",
    "Thank you, that's really helpful. Thank you so much.",
    "Can you tell me when the pharmacy opens?",
    "The pharmacy, the pharmacy: when does it open, when?",
]
QUERIES = DOCS + ["", "a b c", "unknown words only zzz", "NOBODY nobody Nobody answers"]


@pytest.mark.parametrize("sublinear", [False, True])
def test_decision_equals_scikit_learn(sublinear: bool) -> None:
    text = pytest.importorskip("sklearn.feature_extraction.text")
    vec = text.TfidfVectorizer(token_pattern=r"(?u)\b\w\w+\b", sublinear_tf=sublinear).fit(DOCS)
    vocab = np.array(sorted(vec.vocabulary_, key=vec.vocabulary_.get))
    rng = np.random.default_rng(0)
    coef, intercept = rng.normal(size=(3, len(vocab))), rng.normal(size=3)
    ours = TfidfLinear(vocab, vec.idf_, coef, intercept, sublinear).decision(QUERIES)
    theirs = vec.transform(QUERIES).toarray() @ coef.T + intercept
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_tokens_and_social_cleaning() -> None:
    assert word_tokens("I'm OK, a b-52 ok!") == ["ok", "52", "ok"]  # sklearn's: two or more word characters
    assert clean_social("RT @nurse: see https://x.co/a &amp;amp; more").split() == [":", "see", "&", "more"]
