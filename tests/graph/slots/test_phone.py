"""Phone numbers (graph/slots/phone.py)."""

from __future__ import annotations

import pytest

from graph.schema import SlotKind
from graph.slots import SlotValue, extract
from tests.graph.slots.helpers import NOW, value


@pytest.mark.parametrize(
    "text",
    [
        "555 123 4567",
        "555-123-4567",
        "(555) 123-4567",
        "+1 555 123 4567",
        "1-555-123-4567",
        "5551234567",
        "My number is 555-123-4567.",
        "five five five one two three four five six seven",
        "Five, five, five. One, two, three. Four, five, six, seven.",
        "five five five, one two three, forty five sixty seven",
        "double five five one two three four five six seven",
        "it's 555 one two three 45 67",
        "5-5-5-1-2-3-4-5-6-7",
    ],
)
def test_phone(text: str) -> None:
    assert extract(SlotKind.PHONE, text, now=NOW) == SlotValue("5551234567", "5 5 5, 1 2 3, 4 5 6 7")


def test_phone_with_zeros_and_800() -> None:
    assert value(SlotKind.PHONE, "It's 1-800-555-1234") == "8005551234"
    assert value(SlotKind.PHONE, "two oh one, five five five, oh one nine nine") == "2015550199"
    assert value(SlotKind.PHONE, "eight hundred five five five one two three four") == "8005551234"


@pytest.mark.parametrize(
    "text",
    ["555 1234", "555 123 45678", "2 555 123 4567", "I don't have one", "", "call me back", "555 123 4567 extension 22"],
)
def test_not_a_phone(text: str) -> None:
    assert value(SlotKind.PHONE, text) is None


def test_phone_keypad() -> None:
    assert value(SlotKind.PHONE, "", dtmf="5551234567") == "5551234567"
    assert value(SlotKind.PHONE, "", dtmf="15551234567#") == "5551234567"
    assert value(SlotKind.PHONE, "555 123 4567", dtmf="12") == "5551234567"
    assert value(SlotKind.PHONE, "", dtmf="555123") is None
