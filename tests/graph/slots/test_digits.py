"""Digit strings (graph/slots/digits.py)."""

from __future__ import annotations

import pytest

from graph.schema import SlotKind
from graph.slots import SlotValue, extract
from tests.graph.slots.helpers import NOW, value


@pytest.mark.parametrize(
    "text, digits",
    [
        ("12345", "12345"),
        ("It's 48213.", "48213"),
        ("my reference is one two three oh five", "12305"),
        ("twelve thirty four", "1234"),
        ("oh seven", "07"),
        ("zero zero seven", "007"),
        ("4 8 2 1 3", "48213"),
        ("um, 9", "9"),
        ("double three four", "334"),
    ],
)
def test_digits(text: str, digits: str) -> None:
    assert value(SlotKind.DIGITS, text) == digits


def test_digits_spoken_back_in_groups() -> None:
    assert extract(SlotKind.DIGITS, "12345", now=NOW) == SlotValue("12345", "1 2 3, 4 5")
    assert extract(SlotKind.DIGITS, "1234", now=NOW) == SlotValue("1234", "1 2 3 4")


def test_digits_keypad_wins_and_none_without_digits() -> None:
    assert value(SlotKind.DIGITS, "one two", dtmf="9#") == "9"
    assert value(SlotKind.DIGITS, "no idea") is None
    assert value(SlotKind.DIGITS, "") is None
