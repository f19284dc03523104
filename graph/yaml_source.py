"""YAML files that people edit, validated by pydantic, with errors that point into the file.

This is the one place that knows where things are in such a file: :func:`node_spots` maps every
key and list item (by its path of keys/indexes) to where its key and value start, :class:`Where`
turns a path into a :class:`Problem`, and :func:`position` writes ``FILE:LINE:COL``. The settings
file, the burst table and the conversation graph (:mod:`graph.validate`) all report
through here, so an editor or CI jumps to every one of them the same way.

``load_model(path, Model)`` reads the file with ``yaml.safe_load``, validates it, and raises
:class:`ConfigError` whose lines read ``FILE:LINE:COL: dotted.key: what is wrong``."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Pos = tuple[int, int]
"""(line, column), both 1-based."""
KeyPath = tuple[str, ...]
"""Keys and list indexes from the root, each as ``str()`` (as in a pydantic error's loc)."""

MAX_PATH_DEPTH = 100
"""A path deeper than this is not walked: an alias that contains itself would never end."""


class ConfigError(ValueError):
    """A problem in a file a person edits, worded for that person."""


def position(file: str | Path, line: int, col: int) -> str:
    """``FILE:LINE:COL``, as editors, linters and CI read it."""
    return f"{file}:{line}:{col}"


@dataclass(frozen=True)
class Problem:
    """One error or warning in a file; ``str()`` is the line an editor or CI jumps to."""

    file: str
    line: int
    col: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{position(self.file, self.line, self.col)}: {'warning: ' if self.warning else ''}{self.message}"


def mark_pos(mark: yaml.Mark) -> Pos:
    """A PyYAML mark (0-based) as 1-based (line, column)."""
    return (mark.line + 1, mark.column + 1)


def node_pos(node: yaml.Node) -> Pos:
    return mark_pos(node.start_mark)


@dataclass(frozen=True)
class Spot:
    key: Pos  # a mapping entry's key, or a list item's first character
    value: Pos  # the value's first character (the same as key for list items)


def node_spots(root: yaml.Node | None) -> dict[KeyPath, Spot]:
    """Path -> where its key and value start, for a composed tree (``()`` is the root).

    Keys are named as pydantic names them in an error's loc: ``str()`` of the built key (``1``,
    ``True`` for ``yes:``). Aliases are followed, so a path through one has a spot too."""
    if root is None:
        return {}
    spots: dict[KeyPath, Spot] = {(): Spot(node_pos(root), node_pos(root))}
    builder = yaml.SafeLoader("")
    try:
        stack: list[tuple[KeyPath, yaml.Node]] = [((), root)]
        while stack:
            path, node = stack.pop()
            if len(path) >= MAX_PATH_DEPTH:
                continue
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    here = (*path, _key_text(builder, key))
                    spots[here] = Spot(node_pos(key), node_pos(value))  # the last of duplicates wins, as in the data
                    stack.append((here, value))
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    here = (*path, str(i))
                    spots[here] = Spot(node_pos(item), node_pos(item))
                    stack.append((here, item))
    finally:
        builder.dispose()
    return spots


def _key_text(builder: yaml.SafeLoader, key: yaml.Node) -> str:
    if isinstance(key, yaml.ScalarNode):
        try:
            return str(builder.construct_object(key))
        except Exception:  # noqa: BLE001 - a key PyYAML cannot build: its text is the best name
            return str(key.value)
    return str(key.value)


def deepest_known(known: Container[KeyPath], path: KeyPath) -> KeyPath | None:
    """The longest non-empty prefix of ``path`` (itself included) that ``known`` has."""
    for n in range(len(path), 0, -1):
        if path[:n] in known:
            return path[:n]
    return None


@dataclass(frozen=True)
class Where:
    """One file's spots: turns a path of keys/indexes (any objects, compared as str) into a Problem
    at the right place."""

    file: str
    spots: Mapping[KeyPath, Spot]

    def pos(self, path: Iterable[object], part: Literal["key", "value"] = "value") -> Pos:
        """The key or value of ``path``; for a path not in the file, the key of its deepest known
        parent, else the file's start."""
        path = tuple(str(p) for p in path)
        if path in self.spots:
            spot = self.spots[path]
            return spot.key if part == "key" else spot.value
        parent = deepest_known(self.spots, path)
        return self.spots[parent].key if parent is not None else (1, 1)

    def at(self, path: Iterable[object], message: str, part: Literal["key", "value"] = "value",
           warning: bool = False) -> Problem:
        line, col = self.pos(path, part)
        return Problem(self.file, line, col, message, warning)


def read_mapping(path: Path) -> dict[str, Any]:
    """The file's top-level mapping ({} for an empty file); syntax errors carry FILE:LINE:COL."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = position(path, *mark_pos(mark)) if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{position(path, 1, 1)}: the file must be a mapping, not {type(data).__name__}")
    return data


def key_positions(path: Path) -> dict[KeyPath, Pos]:
    """(line, column), 1-based, of every mapping key and list item, by its path of keys/indexes."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return {}
    return {here: spot.key for here, spot in node_spots(root).items() if here}


def locate(path: Path | str | None, positions: Mapping[KeyPath, Pos], loc: KeyPath) -> str:
    """``FILE:LINE:COL`` of the deepest known part of ``loc`` (or just the file)."""
    if path is None:
        return "config"
    known = deepest_known(positions, loc)
    return position(path, *positions[known]) if known is not None else str(path)


def validation_problems(exc: ValidationError, path: Path | str | None, positions: Mapping[KeyPath, Pos]) -> list[str]:
    """One ``FILE:LINE:COL: key: message`` line per pydantic error."""
    problems = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        problems.append(f"{locate(path, positions, loc)}: {'.'.join(loc) or '(root)'}: {err['msg']}")
    return problems


def load_model(path: str | Path, model: type[M], root_key: str | None = None) -> M:
    """Read and validate a YAML file as ``model``; every problem is reported, each with its position.
    Whole-model problems (a model validator's) point at ``root_key`` when given, e.g. the one
    mapping a table's completeness check is about."""
    path = Path(path)
    data = read_mapping(path)
    positions = key_positions(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, path, positions)
        if root_key is not None:
            at = f"{locate(path, positions, (root_key,))}: {root_key}:"
            problems = [p.replace(f"{path}: (root):", at) for p in problems]
        raise ConfigError("\n".join(problems)) from None
