"""Leading filler words (graph/slots/fillers.py)."""

from __future__ import annotations

import pytest

from graph.slots import strip_leading_filler


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("Um, yeah so I need a refill.", "I need a refill."),
        ("uh, uh, my knee hurts", "my knee hurts"),
        ("Okay, well, it's about my bill", "it's about my bill"),
        ("Yeah.", "Yeah."),
        ("hmm", ""),
        ("", ""),
    ],
)
def test_strip_leading_filler(text: str, cleaned: str) -> None:
    assert strip_leading_filler(text) == cleaned
