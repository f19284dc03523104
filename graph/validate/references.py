"""Names the graph uses that something else must define: ``{placeholders}``, slots, intents.

A ``{full_name}`` no node collects is said aloud as a gap; a condition on a slot never
collected never holds; an intent that is not defined never matches. Each is reported where it
is used, with the closest defined name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from graph.schema import BUILTIN_PLACEHOLDERS, PLACEHOLDER, GraphSpec, Say
from graph.validate.structure import transitions
from graph.validate.wording import did_you_mean
from graph.yaml_source import KeyPath, Problem, Where
from tts.expression import Expression


def _collected(spec: GraphSpec) -> list[str]:
    return list(dict.fromkeys(slot.name for node in spec.nodes for slot in node.collect))


def _say_lines(say: Say, base: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    for expression in Expression:
        lines = getattr(say, expression.value)
        if isinstance(lines, str):
            yield (*base, expression.value), lines
        elif lines is not None:
            for k, line in enumerate(lines):
                yield (*base, expression.value, str(k)), line


def _all_say_lines(spec: GraphSpec) -> Iterator[tuple[KeyPath, str]]:
    """Node lines, slot questions, and every line under settings (clarify, unavailable ...)."""
    for name, value in spec.settings:
        if isinstance(value, Say):
            yield from _say_lines(value, ("settings", name))
    for i, node in enumerate(spec.nodes):
        if node.say is not None:
            yield from _say_lines(node.say, ("nodes", str(i), "say"))
        for k, slot in enumerate(node.collect):
            yield from _say_lines(slot.ask, ("nodes", str(i), "collect", str(k), "ask"))


def placeholders(spec: GraphSpec, where: Where) -> Iterator[Problem]:
    known = [*_collected(spec), *sorted(BUILTIN_PLACEHOLDERS)]
    known_set = set(known)
    for path, line in _all_say_lines(spec):
        for match in PLACEHOLDER.finditer(line):
            name = match.group(1)
            if name not in known_set:
                hint = did_you_mean(name, known, "{{{}}}")
                yield where.at(path, f"placeholder {{{name}}} is never collected by any node{hint}")


def slot_references(spec: GraphSpec, where: Where) -> Iterator[Problem]:
    """Slots named by conditions, ``clear`` and callback/webhook ``include`` must be collected somewhere."""
    collected = _collected(spec)
    collected_set = set(collected)

    def check(path: KeyPath, name: str, part: Literal["key", "value"] = "value") -> Iterator[Problem]:
        if name not in collected_set:
            yield where.at(path, f"slot {name!r} is never collected by any node{did_you_mean(name, collected)}", part)

    for path, transition, _ in transitions(spec):
        for k, name in enumerate(transition.clear):
            yield from check((*path, "clear", str(k)), name)
        if transition.slots is None:
            continue
        for kind in ("filled", "missing"):
            for k, name in enumerate(getattr(transition.slots, kind)):
                yield from check((*path, "slots", kind, str(k)), name)
        for name in transition.slots.equals:
            yield from check((*path, "slots", "equals", name), name, "key")
    for i, node in enumerate(spec.nodes):
        for a, action in enumerate(node.actions):
            for k, name in enumerate(getattr(action, "include", [])):
                yield from check(("nodes", str(i), "actions", str(a), "include", str(k)), name)


def intent_references(spec: GraphSpec, where: Where) -> Iterator[Problem]:
    names = list(spec.intents)
    for path, transition, _ in transitions(spec):
        if transition.intent is not None and transition.intent not in spec.intents:
            hint = did_you_mean(transition.intent, names) or ("" if names else " (there is no intents: section)")
            yield where.at((*path, "intent"), f"unknown intent {transition.intent!r}{hint}")
