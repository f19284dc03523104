"""Whole-graph validation of ``configs/graphs/*.yaml``, every problem at its ``FILE:LINE:COL``.

A clinic admin edits the graph by hand, so the checker must say *where* each mistake is and,
where it can, what was meant. :func:`validate_file` never raises on a bad file: it returns a
:class:`ValidationReport` with every error and warning. :func:`load_graph` is what the runtime
uses: the :class:`~graph.schema.GraphSpec`, or :class:`~graph.yaml_source.ConfigError` listing
every error, one per line.

Checks, in order (a later stage runs only when the earlier one passed, so that one typo does
not cascade into dozens of follow-on errors):

1. the file itself: readable, UTF-8, not huge, YAML syntax, no duplicate keys, no alias that
   refers to itself or expands to something huge, not too deeply nested, a mapping;
2. the schema (:mod:`graph.schema` via pydantic), with readable messages: unknown keys with a
   did-you-mean, wrong types, values out of range with the allowed range, unknown enum values;
3. the graph: duplicate node ids, transitions/next/start/fallback naming unknown nodes, nodes
   unreachable from ``settings.start``, dead ends, ``{placeholders}`` and slot references no node
   collects, unknown intents, unknown burst types;
4. warnings (do not fail): example phrases shared by two intents, or nearly the same.
"""

from __future__ import annotations

import difflib
import itertools
import re
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError

from emotion.models.burst_labels import NONE, output_labels
from graph.yaml_source import ConfigError
from graph.schema import BUILTIN_PLACEHOLDERS, NODE_ID, PLACEHOLDER, GraphSpec, Say, Transition
from tts.expression import Expression

MAX_BYTES = 512 * 1024
"""A real clinic graph is about 20 KB; a file 25 times that is a mistake (or an attack), and
pure-Python YAML would take seconds over it."""
MAX_DEPTH = 40
"""The schema nests about eight levels deep; this leaves room and bounds every walk."""
MAX_YAML_NODES = 100_000
"""Values, counting each use of an alias in full: stops 'billion laughs' files before pydantic
expands them."""
SIMILAR_JACCARD = 0.8
"""Two examples of different intents whose word sets overlap this much confuse the matcher."""
MAX_GRAPH_PROBLEMS = 100
"""Graph errors reported per file: past this the file is not a graph being edited."""
MAX_SUGGESTION_CHOICES = 1000
"""Did-you-mean scans every choice (node ids ...); a real graph has well under a hundred."""
MAX_COMPARED_EXAMPLES = 1500
"""Examples compared pairwise for overlaps (a real graph has a few hundred)."""

Pos = tuple[int, int]
Path_ = tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """One error or warning; ``str()`` is the line an editor or CI jumps to."""

    file: str
    line: int
    col: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {'warning: ' if self.warning else ''}{self.message}"


@dataclass(frozen=True)
class ValidationReport:
    """Everything wrong with one file. ``spec`` is set exactly when there are no errors."""

    file: str
    errors: list[Problem]
    warnings: list[Problem]
    spec: GraphSpec | None

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line for ``bedside graph validate``: counts when ok, else how many errors."""
        warned = f" ({_count(len(self.warnings), 'warning')})" if self.warnings else ""
        if self.spec is None:
            return f"{self.file}: {_count(len(self.errors), 'error')}{warned}"
        spec = self.spec
        transitions = sum(len(n.transitions) for n in spec.nodes) + len(spec.global_transitions)
        counts = (
            _count(len(spec.nodes), "node"),
            _count(transitions, "transition"),
            _count(len(spec.intents), "intent"),
            _count(sum(1 for n in spec.nodes if n.topics), "sensitive node"),
        )
        return f"{self.file}: ok — {', '.join(counts)}{warned}"


def validate_file(path: str | Path) -> ValidationReport:
    """Check one graph file; never raises for anything wrong with the file's content."""
    name = str(path)
    text = _read_text(Path(path), name)
    if isinstance(text, Problem):
        return _report(name, [text], [], None)
    parsed = _parse(name, text)
    if not isinstance(parsed, _Parsed):
        return _report(name, parsed, [], None)
    where = _Where(name, parsed.positions)
    if not isinstance(parsed.data, dict):
        what = "empty" if parsed.data is None else f"{_describe(parsed.data)}, not a mapping"
        return _report(name, [where.at((), f"the file is {what}; a graph has clinic:, settings: and nodes:")], [], None)
    try:
        spec = GraphSpec.model_validate(parsed.data)
    except ValidationError as exc:
        return _report(name, _schema_problems(exc, where), [], None)
    errors = _graph_problems(spec, where)
    warnings = _overlap_warnings(spec, where)
    return _report(name, errors, warnings, spec)


def load_graph(path: str | Path) -> GraphSpec:
    """The graph the runtime runs, or ConfigError with every error (``FILE:LINE:COL: ...``), one a line."""
    report = validate_file(path)
    if report.spec is None:
        raise ConfigError("\n".join(str(p) for p in report.errors))
    return report.spec


def _report(name: str, errors: list[Problem], warnings: list[Problem], spec: GraphSpec | None) -> ValidationReport:
    def order(p: Problem) -> tuple[int, int, str]:
        return (p.line, p.col, p.message)

    return ValidationReport(name, sorted(errors, key=order), sorted(warnings, key=order), None if errors else spec)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --- positions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spot:
    key: Pos  # a mapping entry's key, or a list item's first character
    value: Pos  # the value's first character (the same as key for list items)


@dataclass(frozen=True)
class _Where:
    """Turns a path of keys/indexes (all as str) into a Problem at the right place."""

    file: str
    spots: Mapping[Path_, _Spot]

    def pos(self, path: Iterable[object], part: Literal["key", "value"] = "value") -> Pos:
        """The key or value of ``path``; for a path not in the file, the key of its deepest known parent."""
        path = tuple(str(p) for p in path)
        if path in self.spots:
            spot = self.spots[path]
            return spot.key if part == "key" else spot.value
        for n in range(len(path) - 1, 0, -1):
            if path[:n] in self.spots:
                return self.spots[path[:n]].key
        return (1, 1)

    def at(self, path: Iterable[object], message: str, part: Literal["key", "value"] = "value",
           warning: bool = False) -> Problem:
        line, col = self.pos(path, part)
        return Problem(self.file, line, col, message, warning)


def _mark(node: yaml.Node) -> Pos:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


# --- reading and parsing ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    data: Any
    positions: Mapping[Path_, _Spot]


def _read_text(path: Path, name: str) -> str | Problem:
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


def _parse(name: str, text: str) -> _Parsed | list[Problem]:
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
            return _Parsed(None, {})
        problems = _structure_problems(name, root)
        if problems:
            return problems
        try:
            data = loader.construct_document(root)
        except yaml.YAMLError as exc:
            return [_yaml_problem(name, text, exc)]
        except Exception:  # noqa: BLE001 - PyYAML constructors raise ValueError etc. (!!float abc, 2024-13-01)
            return [_constructor_problem(name, root)]
        return _Parsed(data, _positions(loader, root))
    finally:
        loader.dispose()


def _yaml_problem(name: str, text: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context} at line {exc.context_mark.line + 1})" if exc.context and exc.context_mark and exc.problem else ""
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
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
        for node in _walk_nodes(root):
            if isinstance(node, yaml.ScalarNode):
                try:
                    probe.construct_object(node, deep=True)
                except Exception as exc:  # noqa: BLE001 - same as above: any constructor failure
                    line, col = _mark(node)
                    return Problem(name, line, col, f"YAML value error: {node.value!r} ({node.tag}): {exc}")
    finally:
        probe.dispose()
    return Problem(name, *_mark(root), "YAML value error")


def _walk_nodes(root: yaml.Node) -> Iterator[yaml.Node]:
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


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


def _structure_problems(name: str, root: yaml.Node) -> list[Problem]:
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
                        duplicates.append(Problem(name, *_mark(key), f"duplicate key {key.value!r}"
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
        return [Problem(name, *_mark(exc.node), f"YAML structure error: {exc.message}")]
    return duplicates


def _positions(loader: _Loader, root: yaml.Node) -> dict[Path_, _Spot]:
    """Path (keys as their str(), indexes as str) -> where its key and value start."""
    spots: dict[Path_, _Spot] = {(): _Spot(_mark(root), _mark(root))}
    stack: list[tuple[Path_, yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, _key_text(loader, key))
                spots[here] = _Spot(_mark(key), _mark(value))  # the last of duplicates wins, as in the data
                stack.append((here, value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = (*path, str(i))
                spots[here] = _Spot(_mark(item), _mark(item))
                stack.append((here, item))
    return spots


def _key_text(loader: _Loader, key: yaml.Node) -> str:
    """The key as pydantic names it in an error's loc: str() of the constructed key (1, True ...)."""
    if isinstance(key, yaml.ScalarNode):
        try:
            return str(loader.construct_object(key))
        except Exception:  # noqa: BLE001 - a key PyYAML cannot build was reported already
            return str(key.value)
    return str(key.value)


# --- schema errors, made readable -------------------------------------------------------------


@dataclass(frozen=True)
class _Loc:
    """Where a pydantic error is, in the data and in the schema."""

    path: Path_  # keys and indexes in the file (union tags removed)
    owner: type[BaseModel] | None  # the model whose field the path last entered
    field: str | None  # that field's name
    expected: Any  # the type expected at the end of the loc (None if unknown)
    union: tuple[Path_, str] | None  # a plain union split here (path, member tag), e.g. str | list[str]
    is_key: bool  # the error is about a mapping key, not its value


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional: pydantic adds neither to an error's loc."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif _is_union(tp) and len(members := [a for a in get_args(tp) if a is not type(None)]) == 1:
            tp = members[0]
        else:
            return tp


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tag(tp: Any) -> str:
    """The name pydantic gives a union member in a loc: 'str', 'list[str]', 'Say'."""
    origin = get_origin(tp)
    if origin is None:
        return str(getattr(tp, "__name__", tp))
    return f"{getattr(origin, '__name__', origin)}[{', '.join(_tag(a) for a in get_args(tp))}]"


def _discriminator_values(member: Any, field: str) -> list[str]:
    if not _is_model(member) or field not in member.model_fields:
        return []
    return [str(v) for v in get_args(_unwrap(member.model_fields[field].annotation))]


def _union_members(tp: Any) -> list[Any]:
    return [_unwrap(a) for a in get_args(tp) if a is not type(None)]


def _member(tp: Any, tag: str) -> tuple[Any, bool] | None:
    """The union member a loc element names, and whether it was a plain union (named by type)."""
    for member in _union_members(tp):
        if _tag(member) == tag:
            return member, True
        if tag in _discriminator_values(member, "type"):
            return member, False
    return None


def _resolve(loc: tuple[Any, ...]) -> _Loc:
    """Walk GraphSpec along a pydantic loc: tags of unions are not keys in the file, and the
    model at the end tells which keys were allowed there."""
    tp: Any = GraphSpec
    path: list[str] = []
    owner: type[BaseModel] | None = None
    field: str | None = None
    union: tuple[Path_, str] | None = None
    is_key, key_type = False, None
    for raw in loc:
        element = str(raw)
        tp = _unwrap(tp) if tp is not None else None
        if element == "[key]":
            is_key, tp = True, key_type
            continue
        if _is_model(tp):
            owner, field = tp, element
            path.append(element)
            info = tp.model_fields.get(element)
            tp = info.annotation if info else None
        elif _is_union(tp) and (found := _member(tp, element)) is not None:
            tp, plain = found
            if plain:
                union = (tuple(path), element)
        elif get_origin(tp) is list:
            path.append(element)
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            path.append(element)
            key_type, tp = get_args(tp)
        else:
            path.append(element)
            tp = None
    return _Loc(tuple(path), owner, field, _unwrap(tp) if tp is not None else None, union, is_key)


_EXPECTED = {
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "literal_error": None,
    "model_type": None,
    "model_attributes_type": None,
}
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_PATTERN_HELP = {
    NODE_ID: "must be lowercase letters, digits and _, starting with a letter",
    r"^[0-9*#]{1,8}$": "must be 1 to 8 keypad keys (0-9, * and #)",
    r"^https?://": "must start with http:// or https://",
}


def _schema_problems(exc: ValidationError, where: _Where) -> list[Problem]:
    """One readable problem per mistake (a value that fits no member of ``str | list[str]`` is
    one mistake, not two)."""
    resolved = [(err, _resolve(tuple(err["loc"]))) for err in exc.errors(include_url=False)]
    best_depth: dict[Path_, int] = {}
    for _, loc in resolved:
        if loc.union is not None:
            depth = len(loc.path) - len(loc.union[0])
            best_depth[loc.union[0]] = max(best_depth.get(loc.union[0], 0), depth)
    problems: list[Problem] = []
    merged: dict[Path_, list[tuple[Any, _Loc]]] = {}
    for err, loc in resolved:
        if loc.union is not None:
            depth = len(loc.path) - len(loc.union[0])
            if depth < best_depth[loc.union[0]]:
                continue  # another member got further: that member's error is the real one
            if depth == 0:
                merged.setdefault(loc.union[0], []).append((err, loc))
                continue
        problems.append(_schema_problem(err, loc, where))
    for group in merged.values():
        problems.append(_union_mismatch(group, where))
    return problems


def _union_mismatch(group: list[tuple[Any, _Loc]], where: _Where) -> Problem:
    """``neutral: 5`` fits neither text nor a list: say both in one message."""
    err, loc = group[0]
    expected = [_EXPECTED.get(e["type"]) or _expected_text(l.expected) for e, l in group]
    wanted = " or ".join(dict.fromkeys(x for x in expected if x))
    return where.at(loc.path, f"{_label(loc)}: expected {wanted}, got {_describe(err['input'])}{_quote_hint(err)}")


def _schema_problem(err: Any, loc: _Loc, where: _Where) -> Problem:
    kind, value = err["type"], err.get("input")
    label = _label(loc)
    if kind == "extra_forbidden":
        allowed = list(loc.owner.model_fields) if loc.owner else []
        key = loc.path[-1] if loc.path else "?"
        hint = _did_you_mean(key, allowed) or (f" (allowed here: {', '.join(allowed)})" if allowed else "")
        return where.at(loc.path, f"unknown key {key!r}{hint}", "key")
    if kind == "missing":
        missing = loc.path[-1] if loc.path else "?"
        return where.at(loc.path, f"missing required key {missing!r}", "key")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _union_tag_problem(err, loc, where)
    part: Literal["key", "value"] = "key" if loc.is_key else "value"
    if kind in ("enum", "literal_error"):
        allowed = _allowed_values(loc.expected)
        shown = ", ".join(allowed) if allowed else str(err.get("ctx", {}).get("expected", "?"))
        hint = _did_you_mean(str(value), allowed)
        return where.at(loc.path, f"{_what(loc)}: {_shown(value)} is not one of {shown}{hint}", part)
    if kind in _EXPECTED:
        wanted = _EXPECTED[kind] or _expected_text(loc.expected)
        return where.at(loc.path, f"{_what(loc)}: expected {wanted}, got {_describe(value)}{_quote_hint(err)}", part)
    if kind in _RANGE_ERRORS:
        allowed_range = _range_text(loc) or err["msg"].removeprefix("Input should be ")
        return where.at(loc.path, f"{label}: {_short(value)} is out of range (allowed {allowed_range})")
    if kind == "string_pattern_mismatch":
        pattern = str(err.get("ctx", {}).get("pattern", ""))
        help_text = _PATTERN_HELP.get(pattern, f"must match {pattern}")
        return where.at(loc.path, f"{label}: {_shown(value)} {help_text}", part)
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("value_error", "assertion_error"):
        return _value_error(loc, message, where)
    return where.at(loc.path, f"{label}: {message}", part)


def _value_error(loc: _Loc, message: str, where: _Where) -> Problem:
    """A validator's own message. ``monday: hours must be ...`` points at monday's value; a
    model-level one (a transition needs ...) at the model's key or list item."""
    child = message.split(":", 1)[0]
    if ":" in message and (*loc.path, child) in where.spots:
        return where.at((*loc.path, child), f"{loc.field}.{message}" if loc.field else message)
    whole_model = _is_model(loc.expected)
    return where.at(loc.path, f"{_label(loc)}: {message}", "key" if whole_model else "value")


def _union_tag_problem(err: Any, loc: _Loc, where: _Where) -> Problem:
    discriminator = str(err.get("ctx", {}).get("discriminator", "type")).strip("'\"")
    tags = [t for m in _union_members(loc.expected) for t in _discriminator_values(m, discriminator)] if loc.expected else []
    choices = ", ".join(tags)
    if err["type"] == "union_tag_not_found":
        return where.at(loc.path, f"{_label(loc)}: missing {discriminator!r} (one of {choices})", "key")
    tag = str(err.get("ctx", {}).get("tag", ""))
    hint = _did_you_mean(tag, tags)
    return where.at((*loc.path, discriminator), f"unknown {discriminator} {_short(tag)!r}{hint}; expected one of {choices}")


def _label(loc: _Loc) -> str:
    return loc.field or "file"


def _what(loc: _Loc) -> str:
    """``topics``, or ``hours: key`` when the mapping key itself is wrong."""
    return f"{_label(loc)}: key" if loc.is_key else _label(loc)


def _expected_text(tp: Any) -> str:
    """What a mapping/model should look like, in the admin's terms."""
    if _is_model(tp):
        return f"a mapping with keys {', '.join(tp.model_fields)}"
    if _is_union(tp):
        tags = [t for m in _union_members(tp) for t in _discriminator_values(m, "type")]
        if tags:
            return f"a mapping with type: {', '.join(tags)}"
    if get_origin(tp) is Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        return f"one of {', '.join(_allowed_values(tp))}"
    return "a mapping"


def _allowed_values(tp: Any) -> list[str]:
    if get_origin(tp) is Literal:
        return [str(v) for v in get_args(tp)]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return [str(m.value) for m in tp]
    return []


def _range_text(loc: _Loc) -> str | None:
    """``-1..1`` for ge/le; otherwise in words (``above 0 and at most 30``)."""
    if loc.owner is None or loc.field not in loc.owner.model_fields:
        return None
    low = high = None
    for rule in loc.owner.model_fields[loc.field].metadata:
        if isinstance(rule, annotated_types.Ge):
            low = (rule.ge, True)
        elif isinstance(rule, annotated_types.Gt):
            low = (rule.gt, False)
        elif isinstance(rule, annotated_types.Le):
            high = (rule.le, True)
        elif isinstance(rule, annotated_types.Lt):
            high = (rule.lt, False)
    if low and high and low[1] and high[1]:
        return f"{low[0]:g}..{high[0]:g}"
    parts = []
    if low:
        parts.append(f"{'at least' if low[1] else 'above'} {low[0]:g}")
    if high:
        parts.append(f"{'at most' if high[1] else 'below'} {high[0]:g}")
    return " and ".join(parts) or None


def _quote_hint(err: Any) -> str:
    """YAML reads ``yes``, ``on``, ``0`` as bool/int; where text was wanted, say to quote it."""
    value = err.get("input")
    if err["type"] == "string_type" and isinstance(value, bool):
        return " (YAML reads yes/no/on/off/true/false as true or false; put text in quotes)"
    if err["type"] == "string_type" and isinstance(value, int | float):
        return " (put it in quotes to make it text)"
    return ""


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"text {_short(value)!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _shown(value: Any) -> str:
    """A value as the admin typed it: text quoted, anything else described."""
    return repr(_short(value)) if isinstance(value, str) else _describe(value)


def _short(value: Any, limit: int = 60) -> Any:
    """Keep messages one short line even for a pasted essay."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 3] + "..."
    if isinstance(value, (list, dict)):
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return value


def _did_you_mean(word: str, choices: Iterable[str], wrap: str = "'{}'") -> str:
    options = list(choices)
    if len(options) > MAX_SUGGESTION_CHOICES:
        return ""
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {wrap.format(close[0])}?)" if close else ""


# --- graph checks -----------------------------------------------------------------------------


def _graph_problems(spec: GraphSpec, where: _Where) -> list[Problem]:
    checks = itertools.chain(
        _duplicate_ids(spec, where),
        _dangling_targets(spec, where),
        _unreachable(spec, where),
        _dead_ends(spec, where),
        _placeholders(spec, where),
        _slot_references(spec, where),
        _intent_references(spec, where),
        _burst_names(spec, where),
    )
    problems = list(itertools.islice(checks, MAX_GRAPH_PROBLEMS + 1))
    if len(problems) > MAX_GRAPH_PROBLEMS:
        problems[-1] = where.at((), f"more than {MAX_GRAPH_PROBLEMS} graph errors; fix these first")
    return problems


def _transitions(spec: GraphSpec) -> Iterator[tuple[Path_, Transition, int | None]]:
    """Every transition with its path; the node index, or None for a global one."""
    for i, node in enumerate(spec.nodes):
        for j, transition in enumerate(node.transitions):
            yield ("nodes", str(i), "transitions", str(j)), transition, i
    for j, transition in enumerate(spec.global_transitions):
        yield ("global_transitions", str(j)), transition, None


def _node_ids(spec: GraphSpec) -> list[str]:
    return [node.id for node in spec.nodes]


def _duplicate_ids(spec: GraphSpec, where: _Where) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, node in enumerate(spec.nodes):
        if node.id in first:
            line = where.pos(("nodes", first[node.id], "id"), "key")[0]
            yield where.at(("nodes", i, "id"), f"duplicate node id {node.id!r} (first defined at line {line})", "key")
        else:
            first[node.id] = i


def _dangling_targets(spec: GraphSpec, where: _Where) -> Iterator[Problem]:
    ids = _node_ids(spec)
    known = set(ids)

    def check(path: Path_, target: str, what: str) -> Iterator[Problem]:
        if target not in known:
            yield where.at(path, f"{what}: unknown node {target!r}{_did_you_mean(target, ids)}")

    yield from check(("settings", "start"), spec.settings.start, "start")
    yield from check(("settings", "fallback"), spec.settings.fallback, "fallback")
    for path, transition, _ in _transitions(spec):
        yield from check((*path, "to"), transition.to, "transition")
    for i, node in enumerate(spec.nodes):
        if node.next is not None:
            yield from check(("nodes", str(i), "next"), node.next, "next")


def _unreachable(spec: GraphSpec, where: _Where) -> Iterator[Problem]:
    """From start, along transitions and next; global transitions apply from every node, and the
    fallback is where any caller may end up. Checked once every target exists: a typo in one
    ``next`` would otherwise make half the graph 'unreachable'."""
    if any(True for _ in _dangling_targets(spec, where)):
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


def _dead_ends(spec: GraphSpec, where: _Where) -> Iterator[Problem]:
    for i, node in enumerate(spec.nodes):
        if not node.transitions and node.next is None and not node.ends_call:
            yield where.at(("nodes", i, "id"), f"node {node.id!r} is a dead end: it has no transitions, no next"
                           " and no end_call or transfer action", "key")


def _collected(spec: GraphSpec) -> list[str]:
    return list(dict.fromkeys(slot.name for node in spec.nodes for slot in node.collect))


def _say_lines(say: Say, base: Path_) -> Iterator[tuple[Path_, str]]:
    for expression in Expression:
        lines = getattr(say, expression.value)
        if isinstance(lines, str):
            yield (*base, expression.value), lines
        elif lines is not None:
            for k, line in enumerate(lines):
                yield (*base, expression.value, str(k)), line


def _all_say_lines(spec: GraphSpec) -> Iterator[tuple[Path_, str]]:
    """Node lines, slot questions, and every line under settings (clarify, unavailable ...)."""
    for name, value in spec.settings:
        if isinstance(value, Say):
            yield from _say_lines(value, ("settings", name))
    for i, node in enumerate(spec.nodes):
        if node.say is not None:
            yield from _say_lines(node.say, ("nodes", str(i), "say"))
        for k, slot in enumerate(node.collect):
            yield from _say_lines(slot.ask, ("nodes", str(i), "collect", str(k), "ask"))


def _placeholders(spec: GraphSpec, where: _Where) -> Iterator[Problem]:
    known = [*_collected(spec), *sorted(BUILTIN_PLACEHOLDERS)]
    known_set = set(known)
    for path, line in _all_say_lines(spec):
        for match in PLACEHOLDER.finditer(line):
            name = match.group(1)
            if name not in known_set:
                hint = _did_you_mean(name, known, "{{{}}}")
                yield where.at(path, f"placeholder {{{name}}} is never collected by any node{hint}")


def _slot_references(spec: GraphSpec, where: _Where) -> Iterator[Problem]:
    """Slots named by conditions, ``clear`` and callback/webhook ``include`` must be collected somewhere."""
    collected = _collected(spec)
    collected_set = set(collected)

    def check(path: Path_, name: str, part: Literal["key", "value"] = "value") -> Iterator[Problem]:
        if name not in collected_set:
            yield where.at(path, f"slot {name!r} is never collected by any node{_did_you_mean(name, collected)}", part)

    for path, transition, _ in _transitions(spec):
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


def _intent_references(spec: GraphSpec, where: _Where) -> Iterator[Problem]:
    names = list(spec.intents)
    for path, transition, _ in _transitions(spec):
        if transition.intent is not None and transition.intent not in spec.intents:
            hint = _did_you_mean(transition.intent, names) or ("" if names else " (there is no intents: section)")
            yield where.at((*path, "intent"), f"unknown intent {transition.intent!r}{hint}")


def known_bursts() -> frozenset[str]:
    """The burst types the burst model knows (its label vocabulary, torch-free to import)."""
    return frozenset(output_labels()) - {NONE}


def _burst_names(spec: GraphSpec, where: _Where) -> Iterator[Problem]:
    used = [(path, t.emotion.burst) for path, t, _ in _transitions(spec) if t.emotion is not None and t.emotion.burst]
    if not used:
        return
    known = known_bursts()
    for path, bursts in used:
        for k, burst in enumerate(bursts):
            if burst not in known:
                hint = _did_you_mean(burst, sorted(known)) or f" (known: {', '.join(sorted(known))})"
                yield where.at((*path, "emotion", "burst", str(k)), f"unknown burst type {burst!r}{hint}")


# --- warnings: overlapping examples -----------------------------------------------------------


@dataclass(frozen=True)
class _Example:
    group: str  # "intent 'booking'" or "the transition to 'x' in node 'menu'"
    scope: int | None  # node index for a transition's inline examples; None for intents and globals
    intent: str | None  # the intent this group is, or the intent its transition also uses
    path: Path_
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
    for path, transition, node in _transitions(spec):
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


def _overlap_warnings(spec: GraphSpec, where: _Where) -> list[Problem]:
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


__all__ = ["Problem", "ValidationReport", "known_bursts", "load_graph", "validate_file"]
