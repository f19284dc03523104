"""YAML files that people edit, validated by pydantic, with errors that point into the file.

``load_model(path, Model)`` reads the file with ``yaml.safe_load``, validates it, and raises
:class:`ConfigError` whose lines read ``FILE:LINE:COL: dotted.key: what is wrong``. The settings
file, the burst-to-delivery table and the conversation graph all load through here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A problem in a file a person edits, worded for that person."""


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
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1:1: the file must be a mapping, not {type(data).__name__}")
    return data


def key_positions(path: Path) -> dict[tuple[str, ...], tuple[int, int]]:
    """(line, column), 1-based, of every mapping key and list item, by its path of keys/indexes."""
    positions: dict[tuple[str, ...], tuple[int, int]] = {}
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return positions

    def walk(node: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*prefix, str(key.value))
                positions[here] = (key.start_mark.line + 1, key.start_mark.column + 1)
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = (*prefix, str(i))
                positions[here] = (item.start_mark.line + 1, item.start_mark.column + 1)
                walk(item, here)

    if root is not None:
        walk(root, ())
    return positions


def locate(path: Path | str | None, positions: dict[tuple[str, ...], tuple[int, int]], loc: tuple[str, ...]) -> str:
    """``FILE:LINE:COL`` of the deepest known part of ``loc`` (or just the file)."""
    if path is None:
        return "config"
    for n in range(len(loc), 0, -1):
        if loc[:n] in positions:
            line, col = positions[loc[:n]]
            return f"{path}:{line}:{col}"
    return str(path)


def validation_problems(exc: ValidationError, path: Path | str | None, positions: dict[tuple[str, ...], tuple[int, int]]) -> list[str]:
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
