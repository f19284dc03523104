"""Long texts as chunks: sentence-aligned pieces that fit the encoder, and how their scores combine.

A text is cut into sentence-aligned chunks of at most ``CHUNK_TOKENS`` word pieces (at most
``MAX_CHUNKS``, the most recent kept); each chunk is scored and :func:`aggregate` makes one
text score of the chunk scores."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

CHUNK_TOKENS = 128  # word pieces per chunk, [CLS]/[SEP] included
MAX_CHUNKS = 16

_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")


def text_sentences(text: str) -> list[str]:
    """Sentences as the language model's chunks and the per-sentence scores cut them: a plain
    split at end punctuation and line breaks (tts/sentences.py cleans sentences for speech; a
    different job, and these cuts are the ones the scores were measured with)."""
    return [s for s in (p.strip() for p in _SENTENCE.split(text)) if s]


def chunk_text(text: str, count: Callable[[str], int], budget: int = CHUNK_TOKENS - 2,
               max_chunks: int = MAX_CHUNKS) -> list[str]:
    """Sentence-aligned pieces of at most ``budget`` word pieces (``count`` counts them, without
    [CLS]/[SEP]); a sentence over budget is cut into word windows; the last ``max_chunks`` are kept."""
    if count(text) <= budget:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for sentence in text_sentences(text):
        n = count(sentence)
        if n > budget:  # one over-long sentence: cut it into word windows
            if current:
                pieces.append(" ".join(current))
                current, used = [], 0
            words, window, wn = sentence.split(), [], 0
            for w in words:
                k = count(w)
                if window and wn + k > budget:
                    pieces.append(" ".join(window))
                    window, wn = [], 0
                window.append(w)
                wn += k
            if window:
                pieces.append(" ".join(window))
            continue
        if current and used + n > budget:
            pieces.append(" ".join(current))
            current, used = [], 0
        current.append(sentence)
        used += n
    if current:
        pieces.append(" ".join(current))
    return pieces[-max_chunks:]


def aggregate(chunk_values: np.ndarray, weights: np.ndarray, how: str) -> np.ndarray:
    """How chunk scores become one text score: ``max`` (anything said anywhere counts: the 27 emotions
    and toxicity), ``min`` (neutral: neutral only when every chunk is) or ``mean`` (weighted by word
    pieces: sentiment, valence, arousal)."""
    if how == "max":
        return chunk_values.max(axis=0)
    if how == "min":
        return chunk_values.min(axis=0)
    w = weights / weights.sum()
    return (chunk_values * w[:, None]).sum(axis=0) if chunk_values.ndim == 2 else float((chunk_values * w).sum())
