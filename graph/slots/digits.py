"""Digit strings (a reference or member number): every digit said or keyed, in order, read back
one by one in groups so the caller can check them."""

from __future__ import annotations

from graph.slots.numbers import digit_string, read_numbers, tokens
from graph.slots.value import Said, SlotValue


def extract_digits(said: Said) -> SlotValue | None:
    """Every digit said or keyed ("one two three", "12 34", "oh seven" -> "07"); keys win."""
    digits = said.keys or digit_string(read_numbers(tokens(said.text)))
    if not digits:
        return None
    return SlotValue(digits, _spaced_digits(digits))


def _spaced_digits(digits: str) -> str:
    """Digits one by one for the voice, in threes from the left when long: "1 2 3, 4 5"."""
    if len(digits) <= 4:
        return " ".join(digits)
    return ", ".join(" ".join(digits[k : k + 3]) for k in range(0, len(digits), 3))
