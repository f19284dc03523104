"""Names (graph/slots/name.py)."""

from __future__ import annotations

import pytest

from graph.schema import SlotKind
from graph.slots import SlotValue, extract
from tests.graph.slots.helpers import NOW


@pytest.mark.parametrize(
    "text, name",
    [
        ("My name is Maria Lopez", "Maria Lopez"),
        ("My name is Maria Lopez.", "Maria Lopez"),
        ("it's john smith", "John Smith"),
        ("Maria Lopez.", "Maria Lopez"),
        ("maria lopez", "Maria Lopez"),
        ("MARIA LOPEZ", "Maria Lopez"),
        ("this is Dr. Jane Foster", "Jane Foster"),
        ("This is Doctor Jane Foster speaking.", "Jane Foster"),
        ("um yeah it's Anne-Marie O'Brien", "Anne-Marie O'Brien"),
        ("It’s anne-marie o’brien.", "Anne-Marie O'Brien"),
        ("Hi, this is Maria Lopez calling about my appointment.", "Maria Lopez"),
        ("My name is Maria Lopez and I'd like to book an appointment", "Maria Lopez"),
        ("Yeah hi, I'm calling for my mum, her name is Rose Tyler.", "Rose Tyler"),
        ("The patient's name is James McDonald.", "James McDonald"),
        ("You can call me Bill.", "Bill"),
        ("I'm Will.", "Will"),
        ("Sure, my name's Grace Hopper", "Grace Hopper"),
        ("my first name is Maria and my last name is Lopez", "Maria Lopez"),
        ("It's Maria, Maria Lopez.", "Maria Lopez"),
        ("John A. Smith", "John A Smith"),
        ("José García", "José García"),
        ("maria de la cruz", "Maria de la Cruz"),
        ("John", "John"),
        ("Mrs. Patel", "Patel"),
        ("Maria Lopez here", "Maria Lopez"),
        ("Lopez, L-O-P-E-Z", "Lopez"),
    ],
)
def test_name(text: str, name: str) -> None:
    assert extract(SlotKind.NAME, text, now=NOW) == SlotValue(name, name)


@pytest.mark.parametrize(
    "text",
    [
        "I want to book an appointment",
        "I don't know",
        "I'm not sure.",
        "It's about my prescription.",
        "Can you repeat that?",
        "Sorry, what?",
        "Yes.",
        "No.",
        "Hello?",
        "um",
        "",
        "   ",
        "My name is",
        "Maria wants to book",
        "I need to talk to a nurse",
        "It's for my mother",
        "5551234567",
        "My name is Maria Del Carmen Lopez Garcia",  # more than four words
        "Tomorrow at 3 pm",
    ],
)
def test_not_a_name(text: str) -> None:
    assert extract(SlotKind.NAME, text, now=NOW) is None
