"""A graph file as data, plus where everything is in it, from one careful parse.

The file is hand-edited and may be anything: too big, not UTF-8, broken YAML, a value PyYAML
cannot build. Each becomes one :class:`~graph.yaml_source.Problem` at the first bad character
instead of an exception; positions come from :func:`graph.yaml_source.node_spots`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from graph.validate.yaml_tree import MAX_DEPTH, structure_problems, walk_nodes
from graph.yaml_source import Problem, Where, mark_pos, node_pos, node_spots

MAX_BYTES = 512 * 1024
"""A real clinic graph is about 20 KB; a file 25 times that is a mistake (or an attack), and
pure-Python YAML would take seconds over it."""


@dataclass(frozen=True)
class Parsed:
    data: Any
    where: Where


def read_text(path: Path, name: str) -> str | Problem:
    """The file as text; size and encoding problems point at the first bad byte."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return Problem(name, 1, 1, f"the file is too large ({size} bytes; a graph may be at most {MAX_BYTES} bytes)")
        raw = path.read_bytes()
    except OSError as exc:
        return Problem(name, 1, 1, f"cannot read the file: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line_start = before.rfind(b"\n") + 1
        col = len(before[line_start:].decode("utf-8", "replace")) + 1
        return Problem(name, before.count(b"\n") + 1, col,
                       f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded (save the file as UTF-8)")


class _TooDeep(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting while composing, at the first level too many, rather
    than when Python's recursion limit is hit (slowly, and with no position)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(None, None, f"nested too deeply (at most {MAX_DEPTH} levels)", self.peek_event().start_mark)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self.depth -= 1


def parse(name: str, text: str) -> Parsed | list[Problem]:
    """YAML -> data plus the position of every key and item, from one parse."""
    try:
        loader = _Loader(text)  # checks for unprintable characters already
    except yaml.YAMLError as exc:
        return [_yaml_problem(name, text, exc)]
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            return [_yaml_problem(name, text, exc)]
        except RecursionError:
            return [Problem(name, 1, 1, f"YAML is nested too deeply (at most {MAX_DEPTH} levels)")]
        if root is None:
            return Parsed(None, Where(name, {}))
        problems = structure_problems(name, root)
        if problems:
            return problems
        try:
            data = loader.construct_document(root)
        except yaml.YAMLError as exc:
            return [_yaml_problem(name, text, exc)]
        except Exception:  # noqa: BLE001 - PyYAML constructors raise ValueError etc. (!!float abc, 2024-13-01)
            return [_constructor_problem(name, root)]
        return Parsed(data, Where(name, node_spots(root)))
    finally:
        loader.dispose()


def _yaml_problem(name: str, text: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context} at line {exc.context_mark.line + 1})" if exc.context and exc.context_mark and exc.problem else ""
        line, col = mark_pos(mark) if mark else (1, 1)
        kind = "structure" if isinstance(exc, _TooDeep) else "syntax"
        return Problem(name, line, col, f"YAML {kind} error: {problem}{context}")
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        return Problem(name, line, col, f"YAML syntax error: character #x{exc.character:04x} is not allowed"
                       if isinstance(exc.character, int) else f"YAML syntax error: {exc.reason}")
    return Problem(name, 1, 1, f"YAML syntax error: {exc}")


def _constructor_problem(name: str, root: yaml.Node) -> Problem:
    """Which scalar PyYAML could not turn into a value (it does not say itself)."""
    probe = yaml.SafeLoader("")
    try:
        for node in walk_nodes(root):
            if isinstance(node, yaml.ScalarNode):
                try:
                    probe.construct_object(node, deep=True)
                except Exception as exc:  # noqa: BLE001 - same as above: any constructor failure
                    line, col = node_pos(node)
                    return Problem(name, line, col, f"YAML value error: {node.value!r} ({node.tag}): {exc}")
    finally:
        probe.dispose()
    return Problem(name, *node_pos(root), "YAML value error")
