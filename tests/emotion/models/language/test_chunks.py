"""Chunking and chunk aggregation (emotion/models/language/chunks.py), with words as the token count."""

from __future__ import annotations

import numpy as np
import pytest

from emotion.models.language import aggregate, chunk_text, text_sentences


def _words(text: str) -> int:
    return len(text.split())


def test_text_sentences() -> None:
    assert text_sentences("Hello there. How are you?\n\nFine!  ") == ["Hello there.", "How are you?", "Fine!"]
    assert text_sentences("  ") == []


def test_a_short_text_is_one_chunk() -> None:
    assert chunk_text("One two three. Four five.", _words, budget=5) == ["One two three. Four five."]


def test_sentences_are_packed_and_long_ones_cut_into_windows() -> None:
    text = "a b c. d e. " + " ".join(f"w{i}" for i in range(7)) + ". f g h."
    chunks = chunk_text(text, _words, budget=5)
    assert chunks == ["a b c. d e.", "w0 w1 w2 w3 w4", "w5 w6.", "f g h."]
    assert all(_words(c) <= 5 for c in chunks)


def test_the_most_recent_chunks_are_kept() -> None:
    text = " ".join(f"s{i} x y." for i in range(10))
    chunks = chunk_text(text, _words, budget=3, max_chunks=4)
    assert chunks == [f"s{i} x y." for i in range(6, 10)]


def test_aggregate() -> None:
    values = np.array([[0.1, 0.9], [0.5, 0.2]])
    weights = np.array([1.0, 3.0])
    assert aggregate(values, weights, "max").tolist() == [0.5, 0.9]
    assert aggregate(values, weights, "min").tolist() == [0.1, 0.2]
    assert aggregate(values, weights, "mean") == pytest.approx([0.4, 0.375])
    assert aggregate(np.array([0.0, 1.0]), weights, "mean") == pytest.approx(0.75)
