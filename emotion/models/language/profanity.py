"""Obscene: the alt-profanity-check linear SVM, exported to arrays (same numbers, no scikit-learn).

``emotion.training.language.export_profanity`` reads the package's joblib pickles once, at
training time; inference only reads the ``profanity.*`` arrays of ``weights/language.npz``."""

from __future__ import annotations

import numpy as np

from emotion.models.language.tfidf import TfidfLinear


class Profanity:
    """alt-profanity-check 1.x (MIT) without scikit-learn: its TF-IDF vocabulary, the five
    calibrated LinearSVC folds and their sigmoid calibrations; probability = mean over folds."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.svm = TfidfLinear.from_arrays(arrays, "profanity", sublinear=False)
        self.a = arrays["profanity.cal_a"].astype(np.float64)
        self.b = arrays["profanity.cal_b"].astype(np.float64)

    def prob(self, texts: list[str]) -> np.ndarray:
        f = self.svm.decision(texts)  # (n, folds)
        return (1.0 / (1.0 + np.exp(np.clip(self.a * f + self.b, -60, 60)))).mean(axis=1)
