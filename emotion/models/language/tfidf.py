"""Lexical (bag of words) heads in pure numpy: a TF-IDF re-implementation and a linear map on it.

The toxicity heads (Davidson et al.) and the profanity SVM were fitted with scikit-learn's
``TfidfVectorizer``; inference recomputes the same features from the exported vocabulary and idf,
so scikit-learn is a training-only dependency."""

from __future__ import annotations

import html
import re

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def clean_social(text: str) -> str:
    """Undo tweet artefacts that never occur in a transcript: HTML entities, URLs, @mentions, 'RT'."""
    text = html.unescape(html.unescape(text))
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"@\w+", " ", text)
    return re.sub(r"\bRT\b", " ", text)


def word_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class TfidfLinear:
    """TF-IDF over a fixed word vocabulary (L2-normalised rows) followed by a linear map.

    Equivalent to scikit-learn's ``TfidfVectorizer(token_pattern=r"(?u)\\b\\w\\w+\\b")`` with the same
    vocabulary and idf, and ``x @ coef.T + intercept``; kept as plain arrays."""

    def __init__(self, vocab: np.ndarray, idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray, sublinear: bool):
        self.index = {str(w): i for i, w in enumerate(vocab.tolist())}
        self.idf = idf.astype(np.float64)
        self.coef = coef.astype(np.float64)  # (k, V)
        self.intercept = intercept.astype(np.float64)  # (k,)
        self.sublinear = sublinear

    def decision(self, texts: list[str]) -> np.ndarray:
        out = np.tile(self.intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for tok in word_tokens(text):
                j = self.index.get(tok)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            cols = np.fromiter(counts.keys(), dtype=np.int64)
            tf = np.fromiter(counts.values(), dtype=np.float64)
            if self.sublinear:
                tf = 1.0 + np.log(tf)
            x = tf * self.idf[cols]
            x /= np.linalg.norm(x)
            out[row] += self.coef[:, cols] @ x
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, sublinear: bool) -> "TfidfLinear":
        return cls(arrays[f"{prefix}.vocab"], arrays[f"{prefix}.idf"], arrays[f"{prefix}.coef"],
                   arrays[f"{prefix}.intercept"], sublinear)
