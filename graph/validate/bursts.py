"""Emotional conditions may name only the bursts (sighs, cries ...) the burst model can hear.

The vocabulary comes from the model's label list, which imports without torch, so validating a
graph stays fast and works where no model is installed. (The ranges of valence, arousal and
coherence are schema checks: :mod:`graph.validate.schema_errors` words them.)"""

from __future__ import annotations

from collections.abc import Iterator

from emotion.models.burst_labels import NONE, output_labels
from graph.schema import GraphSpec
from graph.validate.structure import transitions
from graph.validate.wording import did_you_mean
from graph.yaml_source import Problem, Where


def known_bursts() -> frozenset[str]:
    """The burst types the burst model knows (its label vocabulary, torch-free to import)."""
    return frozenset(output_labels()) - {NONE}


def burst_names(spec: GraphSpec, where: Where) -> Iterator[Problem]:
    used = [(path, t.emotion.burst) for path, t, _ in transitions(spec) if t.emotion is not None and t.emotion.burst]
    if not used:
        return
    known = known_bursts()
    for path, bursts in used:
        for k, burst in enumerate(bursts):
            if burst not in known:
                hint = did_you_mean(burst, sorted(known)) or f" (known: {', '.join(sorted(known))})"
                yield where.at((*path, "emotion", "burst", str(k)), f"unknown burst type {burst!r}{hint}")
