"""Values and suggestions in the admin's words, one short line each.

Every stage (schema errors, graph references) names what was typed and, where one choice is
close, what was probably meant; this keeps that wording the same everywhere."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

MAX_SUGGESTION_CHOICES = 1000
"""Did-you-mean scans every choice (node ids ...); a real graph has well under a hundred."""


def describe(value: Any) -> str:
    """What kind of value this is: ``the number 5``, ``text 'abc'``, ``a list`` ..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"text {short(value)!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def shown(value: Any) -> str:
    """A value as the admin typed it: text quoted, anything else described."""
    return repr(short(value)) if isinstance(value, str) else describe(value)


def short(value: Any, limit: int = 60) -> Any:
    """Keep messages one short line even for a pasted essay."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 3] + "..."
    if isinstance(value, (list, dict)):
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return value


def did_you_mean(word: str, choices: Iterable[str], wrap: str = "'{}'") -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or "" when none is close (or too many to scan)."""
    options = list(choices)
    if len(options) > MAX_SUGGESTION_CHOICES:
        return ""
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {wrap.format(close[0])}?)" if close else ""
