"""Free-text slots (a medication, a reason for calling): the caller's own words, minus the filler
they start with."""

from __future__ import annotations

from graph.slots.fillers import strip_leading_filler
from graph.slots.value import Said, SlotValue


def extract_text(said: Said) -> SlotValue | None:
    """The caller's words without leading filler; None when nothing is left."""
    cleaned = strip_leading_filler(said.text)
    cleaned = cleaned.lstrip(" ,.;:!?…-").strip()
    if not any(ch.isalnum() for ch in cleaned):
        return None
    return SlotValue(cleaned, cleaned)
