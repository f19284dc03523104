"""Phone numbers, US only: 10 digits, or 11 starting with 1 (the 1 is dropped), so any other
length is a mishearing to ask about again rather than a number to store."""

from __future__ import annotations

from graph.slots.numbers import digit_string, read_numbers, tokens
from graph.slots.value import Said, SlotValue


def extract_phone(said: Said) -> SlotValue | None:
    """A US number: 10 digits, or 11 starting with 1 (dropped). "(555) 123-4567", "+1 555 123
    4567", "five five five one two three four five six seven", or keyed."""
    for digits in (said.keys, digit_string(read_numbers(tokens(said.text)))):
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) == 10:
            spoken = f"{' '.join(digits[:3])}, {' '.join(digits[3:6])}, {' '.join(digits[6:])}"
            return SlotValue(digits, spoken)
    return None
