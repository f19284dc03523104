"""Checks on the composed YAML tree, before anything is built from it.

YAML silently keeps the last of two equal keys, lets an alias contain itself, and expands
aliases without bound ("billion laughs"); none of that must reach pydantic (or Python's
recursion limit). Each is reported at the node that causes it."""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from graph.yaml_source import Problem, node_pos

MAX_DEPTH = 40
"""The schema nests about eight levels deep; this leaves room and bounds every walk."""
MAX_YAML_NODES = 100_000
"""Values, counting each use of an alias in full: stops 'billion laughs' files before pydantic
expands them."""


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


def structure_problems(name: str, root: yaml.Node) -> list[Problem]:
    """Duplicate keys (YAML keeps the last one silently), self-referencing aliases, too deep or
    too big after expanding aliases: all found before anything is built from the tree."""
    duplicates: list[Problem] = []
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values after expansion, height)
    on_path: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise _TooBig(node, f"nested too deeply (at most {MAX_DEPTH} levels)")
        if id(node) in on_path:
            raise _TooBig(node, "an alias refers to the value that contains it")
        if id(node) in measured:
            count, height = measured[id(node)]
            if depth + height > MAX_DEPTH:
                raise _TooBig(node, f"nested too deeply (at most {MAX_DEPTH} levels)")
            return count, height
        on_path.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], yaml.Node] = {}
            for key, value in node.value:
                children += [key, value]
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    seen = first.setdefault((key.tag, key.value), key)
                    if seen is not key:
                        duplicates.append(Problem(name, *node_pos(key), f"duplicate key {key.value!r}"
                                                  f" (first at line {seen.start_mark.line + 1}; YAML would keep only this one)"))
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        count, height = 1, 0
        for child in children:
            c, h = measure(child, depth + 1)
            count, height = count + c, max(height, h + 1)
            if count > MAX_YAML_NODES:
                raise _TooBig(node, f"too many values (more than {MAX_YAML_NODES}, counting aliases in full)")
        on_path.discard(id(node))
        measured[id(node)] = (count, height)
        return count, height

    try:
        measure(root, 0)
    except _TooBig as exc:
        return [Problem(name, *node_pos(exc.node), f"YAML structure error: {exc.message}")]
    return duplicates


def walk_nodes(root: yaml.Node) -> Iterator[yaml.Node]:
    """Every node once (aliases are shared nodes); the tree is known to be acyclic and bounded."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
