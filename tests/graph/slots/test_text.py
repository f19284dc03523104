"""Free text (graph/slots/text.py)."""

from __future__ import annotations

import pytest

from graph.schema import SlotKind
from graph.slots import SlotValue, extract
from tests.graph.slots.helpers import NOW, value


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("Um, yeah so I need a refill of my lisinopril.", "I need a refill of my lisinopril."),
        ("uh metformin", "metformin"),
        ("  I've had a cough for two weeks.  ", "I've had a cough for two weeks."),
        ("Well, it's my knee again", "it's my knee again"),
        ("Yeah.", "Yeah."),
        ("no", "no"),
    ],
)
def test_text(text: str, cleaned: str) -> None:
    assert extract(SlotKind.TEXT, text, now=NOW) == SlotValue(cleaned, cleaned)


@pytest.mark.parametrize("text", ["", "   ", "um", "Uh... um.", "...", "?"])
def test_empty_text(text: str) -> None:
    assert value(SlotKind.TEXT, text) is None
