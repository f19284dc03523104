"""graph/validate/wording.py: values described in the admin's words, kept to one short line, and
a did-you-mean only when one choice is close."""

from __future__ import annotations

from graph.validate.wording import MAX_SUGGESTION_CHOICES, describe, did_you_mean, short, shown


def test_values_are_described_in_words() -> None:
    assert [describe(v) for v in (None, True, 5, 1.5, "abc", [1], {"a": 1}, object())] == [
        "nothing (null)", "true", "the number 5", "the number 1.5", "text 'abc'", "a list", "a mapping", "object"]
    assert shown("abc") == "'abc'" and shown(5) == "the number 5"


def test_long_values_are_cut_to_one_short_line() -> None:
    assert short("x" * 100) == "x" * 57 + "..." and short("x" * 60) == "x" * 60
    assert short(list(range(100))).endswith("...") and len(short(list(range(100)))) == 60
    assert short(5) == 5


def test_did_you_mean_only_when_close_and_not_among_too_many() -> None:
    assert did_you_mean("helo", ["hello", "bye"]) == " (did you mean 'hello'?)"
    assert did_you_mean("nme", ["name"], "{{{}}}") == " (did you mean {name}?)"
    assert did_you_mean("zzz", ["hello", "bye"]) == ""
    assert did_you_mean("helo", ["hello", *(f"n{i}" for i in range(MAX_SUGGESTION_CHOICES))]) == ""
