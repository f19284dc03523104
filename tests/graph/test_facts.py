"""graph/facts.py: what a reworded line must keep and must not add."""

from __future__ import annotations

import pytest

from graph.facts import facts, invented, missing, sentences_with


@pytest.mark.parametrize(("text", "expected"), [
    ("You're booked for Tuesday at 10:30 AM.", {"tuesday", "10:30am"}),
    ("That's 10 a.m. on March 3rd.", {"10am", "march", "3"}),
    ("We open at 08:00 and close at 18:00 today.", {"8:00", "18:00", "today"}),
    ("A clinician will call you back today.", {"today"}),
    ("Thank you, Maria. How can I help?", set()),
    ("Your appointment is 30 minutes, room 4.", {"30", "4"}),
])
def test_facts_in_their_normal_form(text: str, expected: set[str]) -> None:
    assert facts(text) == expected


def test_a_reworded_time_in_another_spelling_is_kept() -> None:
    line = "You're booked for Tuesday at 10:30 AM."
    assert missing(line, "All set, Maria: Tuesday, 10:30 am. See you then!") == frozenset()
    assert missing(line, "All set for Tuesday at 10:30.") == frozenset()  # am/pm left out: the time is there
    assert missing(line, "You're all set for Tuesday.") == {"10:30am"}
    assert missing(line, "You're all set, see you soon.") == {"tuesday", "10:30am"}


def test_what_the_line_and_the_conversation_do_not_have_is_invented() -> None:
    known = facts("I'll ask a clinician to call you back today.") | facts("I'm calling about my results from Monday.")
    assert invented("How about tomorrow?", known) == {"tomorrow"}
    assert invented("Someone will call you at 3 pm.", known) == {"3pm"}
    assert invented("A clinician will call you today about Monday's results.", known) == frozenset()
    assert invented("I'm so sorry, I hear you.", known) == frozenset()


def test_the_lines_sentences_that_carry_what_was_lost() -> None:
    line = ["I'm sorry to hear that.", "A clinician will call you back today.", "Is there anything else?"]
    assert sentences_with(line, frozenset({"today"})) == ["A clinician will call you back today."]
    assert sentences_with(line, frozenset()) == []
