"""Yes/no answers (graph/slots/yes_no.py)."""

from __future__ import annotations

import pytest

from graph.schema import SlotKind
from graph.slots import SlotValue, extract
from tests.graph.slots.helpers import NOW, value


@pytest.mark.parametrize(
    "text",
    [
        "yes", "Yes.", "Yeah.", "yep", "Yup!", "Sure.", "Correct.", "That's right.", "that is right",
        "Okay.", "OK", "ok", "I agree.", "Go ahead.", "Please do.", "yes please", "Absolutely.",
        "Uh-huh.", "Mm-hmm.", "Sure, no problem.", "Yeah, why not.", "I don't mind.", "Yeah, that works.",
        "Um, yeah, that's fine.", "right",
    ],
)  # fmt: skip
def test_yes(text: str) -> None:
    assert extract(SlotKind.YES_NO, text, now=NOW) == SlotValue("yes", "yes")


@pytest.mark.parametrize(
    "text",
    [
        "no", "No.", "Nope.", "nah", "Don't.", "Please don't.", "I'd rather not.", "Not really.",
        "No, that's not right.", "That's not correct.", "that's wrong", "Stop.", "Yes, no, that's not right.",
        "No thank you.", "Uh-uh.", "Yeah, no.", "I do not.", "incorrect",
    ],
)  # fmt: skip
def test_no(text: str) -> None:
    assert extract(SlotKind.YES_NO, text, now=NOW) == SlotValue("no", "no")


@pytest.mark.parametrize(
    "text",
    ["", "Hmm.", "What?", "Sorry?", "I'm not sure.", "I don't know.", "Maybe.", "Hold on.", "Can you repeat that?", "um"],
)
def test_unclear_yes_no(text: str) -> None:
    assert value(SlotKind.YES_NO, text) is None


def test_yes_no_keypad() -> None:
    assert value(SlotKind.YES_NO, "", dtmf="1") == "yes"
    assert value(SlotKind.YES_NO, "yes", dtmf="2") == "no"
    assert value(SlotKind.YES_NO, "yes", dtmf="9") == "yes"  # other keys: the words
