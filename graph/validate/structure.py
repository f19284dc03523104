"""The graph's shape: node ids, where transitions lead, what can be reached, what never ends.

A graph that passes the schema can still strand a caller: a ``next`` to a node that does not
exist, a node nothing leads to, a node with no way out and no hang-up. Each is reported at the
node id or the target that is wrong."""

from __future__ import annotations

from collections.abc import Iterator

from graph.schema import GraphSpec, Transition
from graph.validate.wording import did_you_mean
from graph.yaml_source import KeyPath, Problem, Where


def transitions(spec: GraphSpec) -> Iterator[tuple[KeyPath, Transition, int | None]]:
    """Every transition with its path; the node index, or None for a global one."""
    for i, node in enumerate(spec.nodes):
        for j, transition in enumerate(node.transitions):
            yield ("nodes", str(i), "transitions", str(j)), transition, i
    for j, transition in enumerate(spec.global_transitions):
        yield ("global_transitions", str(j)), transition, None


def duplicate_ids(spec: GraphSpec, where: Where) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, node in enumerate(spec.nodes):
        if node.id in first:
            line = where.pos(("nodes", first[node.id], "id"), "key")[0]
            yield where.at(("nodes", i, "id"), f"duplicate node id {node.id!r} (first defined at line {line})", "key")
        else:
            first[node.id] = i


def dangling_targets(spec: GraphSpec, where: Where) -> Iterator[Problem]:
    ids = [node.id for node in spec.nodes]
    known = set(ids)

    def check(path: KeyPath, target: str, what: str) -> Iterator[Problem]:
        if target not in known:
            yield where.at(path, f"{what}: unknown node {target!r}{did_you_mean(target, ids)}")

    yield from check(("settings", "start"), spec.settings.start, "start")
    yield from check(("settings", "fallback"), spec.settings.fallback, "fallback")
    for path, transition, _ in transitions(spec):
        yield from check((*path, "to"), transition.to, "transition")
    for i, node in enumerate(spec.nodes):
        if node.next is not None:
            yield from check(("nodes", str(i), "next"), node.next, "next")


def unreachable(spec: GraphSpec, where: Where) -> Iterator[Problem]:
    """From start, along transitions and next; global transitions apply from every node, and the
    fallback is where any caller may end up. Checked once every target exists: a typo in one
    ``next`` would otherwise make half the graph 'unreachable'."""
    if any(True for _ in dangling_targets(spec, where)):
        return
    start = spec.settings.start
    edges: dict[str, set[str]] = {}
    for node in spec.nodes:
        edges.setdefault(node.id, set()).update(t.to for t in node.transitions)
        if node.next is not None:
            edges[node.id].add(node.next)
    seen: set[str] = set()
    todo = [start, spec.settings.fallback, *(t.to for t in spec.global_transitions)]
    while todo:
        node_id = todo.pop()
        if node_id not in seen:
            seen.add(node_id)
            todo.extend(edges.get(node_id, ()))
    for i, node in enumerate(spec.nodes):
        if node.id not in seen:
            yield where.at(("nodes", i, "id"), f"node {node.id!r} is unreachable: no transition or next leads"
                           f" to it from start {start!r}", "key")


def dead_ends(spec: GraphSpec, where: Where) -> Iterator[Problem]:
    for i, node in enumerate(spec.nodes):
        if not node.transitions and node.next is None and not node.ends_call:
            yield where.at(("nodes", i, "id"), f"node {node.id!r} is a dead end: it has no transitions, no next"
                           " and no end_call or transfer action", "key")
