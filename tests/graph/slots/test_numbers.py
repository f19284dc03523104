"""Tokens and the shared spoken-number parser (graph/slots/numbers.py)."""

from __future__ import annotations

import pytest

from graph.slots import read_numbers, tokens, words_to_number


@pytest.mark.parametrize(
    "text, number",
    [
        ("twenty three", 23),
        ("twenty-three", 23),
        ("nineteen eighty five", 1985),
        ("nineteen eighty-five", 1985),
        ("two thousand and one", 2001),
        ("two thousand twenty five", 2025),
        ("twenty twenty five", 2025),
        ("nineteen oh two", 1902),
        ("nineteen hundred and eighty five", 1985),
        ("oh two", 2),
        ("zero", 0),
        ("one hundred", 100),
        ("three hundred and twelve", 312),
        ("first", 1),
        ("third", 3),
        ("twelfth", 12),
        ("twentieth", 20),
        ("twenty third", 23),
        ("thirty first", 31),
        ("1985", 1985),
        ("3rd", 3),
        ("march", None),
        ("twenty apples", None),
        ("", None),
    ],
)
def test_words_to_number(text: str, number: int | None) -> None:
    assert words_to_number(text) == number


def test_numbers_keep_the_digits_as_said() -> None:
    items = read_numbers(tokens("five five five oh one, 12"))
    assert [getattr(i, "digits", i) for i in items] == ["5", "5", "5", "01", "12"]


def test_oh_is_a_word_unless_next_to_a_number() -> None:
    assert read_numbers(tokens("Oh, it's Maria")) == ["oh", "it's", "maria"]
    assert [getattr(i, "digits", i) for i in read_numbers(tokens("nine oh five"))] == ["9", "05"]


def test_tokens_normalise_case_meridiem_and_apostrophes() -> None:
    assert tokens("At 3 P.M., I’m free") == ["at", "3", "pm", "i'm", "free"]
    assert tokens("9:30 a.m.") == ["9:30", "am"]
    assert tokens("03/03/1985 and 3-3-85") == ["03/03/1985", "and", "3-3-85"]
    assert tokens("(555) 123-4567") == ["555", "123", "4567"]
