"""Pydantic's errors for a graph file, made readable: one problem per mistake, at its place.

Pydantic says ``Input should be a valid string`` at ``nodes.0.say.neutral.str``; the admin needs
``neutral: expected text or a list, got the number 5 (put it in quotes ...)`` at the 5. Unknown
keys get a did-you-mean, enums and tags their allowed values, ranges the allowed range."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import ValidationError

from graph.schema import NODE_ID
from graph.validate.schema_paths import Loc, discriminator_values, is_model, is_union, resolve, union_members
from graph.validate.wording import describe, did_you_mean, short, shown
from graph.yaml_source import KeyPath, Problem, Where

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


def schema_problems(exc: ValidationError, where: Where) -> list[Problem]:
    """One readable problem per mistake (a value that fits no member of ``str | list[str]`` is
    one mistake, not two)."""
    resolved = [(err, resolve(tuple(err["loc"]))) for err in exc.errors(include_url=False)]
    best_depth: dict[KeyPath, int] = {}
    for _, loc in resolved:
        if loc.union is not None:
            depth = len(loc.path) - len(loc.union[0])
            best_depth[loc.union[0]] = max(best_depth.get(loc.union[0], 0), depth)
    problems: list[Problem] = []
    merged: dict[KeyPath, list[tuple[Any, Loc]]] = {}
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


def _union_mismatch(group: list[tuple[Any, Loc]], where: Where) -> Problem:
    """``neutral: 5`` fits neither text nor a list: say both in one message."""
    err, loc = group[0]
    expected = [_EXPECTED.get(e["type"]) or _expected_text(l.expected) for e, l in group]
    wanted = " or ".join(dict.fromkeys(x for x in expected if x))
    return where.at(loc.path, f"{_label(loc)}: expected {wanted}, got {describe(err['input'])}{_quote_hint(err)}")


def _schema_problem(err: Any, loc: Loc, where: Where) -> Problem:
    kind, value = err["type"], err.get("input")
    label = _label(loc)
    if kind == "extra_forbidden":
        allowed = list(loc.owner.model_fields) if loc.owner else []
        key = loc.path[-1] if loc.path else "?"
        hint = did_you_mean(key, allowed) or (f" (allowed here: {', '.join(allowed)})" if allowed else "")
        return where.at(loc.path, f"unknown key {key!r}{hint}", "key")
    if kind == "missing":
        missing = loc.path[-1] if loc.path else "?"
        return where.at(loc.path, f"missing required key {missing!r}", "key")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _union_tag_problem(err, loc, where)
    part: Literal["key", "value"] = "key" if loc.is_key else "value"
    if kind in ("enum", "literal_error"):
        allowed = _allowed_values(loc.expected)
        choices = ", ".join(allowed) if allowed else str(err.get("ctx", {}).get("expected", "?"))
        hint = did_you_mean(str(value), allowed)
        return where.at(loc.path, f"{_what(loc)}: {shown(value)} is not one of {choices}{hint}", part)
    if kind in _EXPECTED:
        wanted = _EXPECTED[kind] or _expected_text(loc.expected)
        return where.at(loc.path, f"{_what(loc)}: expected {wanted}, got {describe(value)}{_quote_hint(err)}", part)
    if kind in _RANGE_ERRORS:
        allowed_range = _range_text(loc) or err["msg"].removeprefix("Input should be ")
        return where.at(loc.path, f"{label}: {short(value)} is out of range (allowed {allowed_range})")
    if kind == "string_pattern_mismatch":
        pattern = str(err.get("ctx", {}).get("pattern", ""))
        help_text = _PATTERN_HELP.get(pattern, f"must match {pattern}")
        return where.at(loc.path, f"{label}: {shown(value)} {help_text}", part)
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("value_error", "assertion_error"):
        return _value_error(loc, message, where)
    return where.at(loc.path, f"{label}: {message}", part)


def _value_error(loc: Loc, message: str, where: Where) -> Problem:
    """A validator's own message. ``monday: hours must be ...`` points at monday's value; a
    model-level one (a transition needs ...) at the model's key or list item."""
    child = message.split(":", 1)[0]
    if ":" in message and (*loc.path, child) in where.spots:
        return where.at((*loc.path, child), f"{loc.field}.{message}" if loc.field else message)
    whole_model = is_model(loc.expected)
    return where.at(loc.path, f"{_label(loc)}: {message}", "key" if whole_model else "value")


def _union_tag_problem(err: Any, loc: Loc, where: Where) -> Problem:
    discriminator = str(err.get("ctx", {}).get("discriminator", "type")).strip("'\"")
    tags = [t for m in union_members(loc.expected) for t in discriminator_values(m, discriminator)] if loc.expected else []
    choices = ", ".join(tags)
    if err["type"] == "union_tag_not_found":
        return where.at(loc.path, f"{_label(loc)}: missing {discriminator!r} (one of {choices})", "key")
    tag = str(err.get("ctx", {}).get("tag", ""))
    hint = did_you_mean(tag, tags)
    return where.at((*loc.path, discriminator), f"unknown {discriminator} {short(tag)!r}{hint}; expected one of {choices}")


def _label(loc: Loc) -> str:
    return loc.field or "file"


def _what(loc: Loc) -> str:
    """``topics``, or ``hours: key`` when the mapping key itself is wrong."""
    return f"{_label(loc)}: key" if loc.is_key else _label(loc)


def _expected_text(tp: Any) -> str:
    """What a mapping/model should look like, in the admin's terms."""
    if is_model(tp):
        return f"a mapping with keys {', '.join(tp.model_fields)}"
    if is_union(tp):
        tags = [t for m in union_members(tp) for t in discriminator_values(m, "type")]
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


def _range_text(loc: Loc) -> str | None:
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
