"""Warnings, not errors: example phrases that two intents (or transitions) share, or nearly.

The matcher scores the caller's words against every example, so two ends with the same phrase
make it pick one at random. Only examples that can compete are compared: inline examples of
transitions in different nodes never meet, and a transition's examples do not compete with its
own intent's."""

from __future__ import annotations

import re
from dataclasses import dataclass

from graph.schema import GraphSpec
from graph.validate.structure import transitions
from graph.yaml_source import KeyPath, Problem, Where

SIMILAR_JACCARD = 0.8
"""Two examples of different intents whose word sets overlap this much confuse the matcher."""
MAX_COMPARED_EXAMPLES = 1500
"""Examples compared pairwise for overlaps (a real graph has a few hundred)."""


@dataclass(frozen=True)
class _Example:
    group: str  # "intent 'booking'" or "the transition to 'x' in node 'menu'"
    scope: int | None  # node index for a transition's inline examples; None for intents and globals
    intent: str | None  # the intent this group is, or the intent its transition also uses
    path: KeyPath
    phrase: str
    words: frozenset[str]


def _normalise(phrase: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", phrase.lower()).split())


def _examples(spec: GraphSpec) -> list[_Example]:
    out: list[_Example] = []
    for name, intent in spec.intents.items():
        for k, phrase in enumerate(intent.examples):
            norm = _normalise(phrase)
            out.append(_Example(f"intent {name!r}", None, name, ("intents", name, "examples", str(k)), norm, frozenset(norm.split())))
    for path, transition, node in transitions(spec):
        where = f" in node {spec.nodes[node].id!r}" if node is not None else " in global_transitions"
        group = f"the transition to {transition.to!r}{where}"
        for k, phrase in enumerate(transition.examples):
            norm = _normalise(phrase)
            out.append(_Example(group, node, transition.intent, (*path, "examples", str(k)), norm, frozenset(norm.split())))
    return out


def _compete(a: _Example, b: _Example) -> bool:
    """Examples confuse the matcher only when both can be matched at once, for different ends."""
    if a.group == b.group:
        return False
    if a.scope is not None and b.scope is not None and a.scope != b.scope:
        return False  # inline examples of transitions in different nodes never meet
    return not (a.intent is not None and a.intent == b.intent)


def overlap_warnings(spec: GraphSpec, where: Where) -> list[Problem]:
    examples = sorted(_examples(spec), key=lambda e: where.pos(e.path))
    if len(examples) > MAX_COMPARED_EXAMPLES:
        return [where.at(examples[MAX_COMPARED_EXAMPLES].path, f"more than {MAX_COMPARED_EXAMPLES} examples:"
                         " not checked for overlaps", warning=True)]
    warnings: list[Problem] = []
    for j, later in enumerate(examples):
        for earlier in examples[:j]:
            if not later.words or not _compete(earlier, later):
                continue
            line = where.pos(earlier.path)[0]
            if later.phrase == earlier.phrase:
                warnings.append(where.at(later.path, f"example {later.phrase!r} of {later.group} is also an example"
                                         f" of {earlier.group} (line {line})", warning=True))
                break
            jaccard = len(later.words & earlier.words) / len(later.words | earlier.words)
            if jaccard >= SIMILAR_JACCARD:
                warnings.append(where.at(later.path, f"example {later.phrase!r} of {later.group} is nearly the same as"
                                         f" {earlier.phrase!r} of {earlier.group} (line {line})", warning=True))
                break
    return warnings
