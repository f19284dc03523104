"""Sentence splitting for streamed speech."""

from __future__ import annotations

import random

import pytest

from tts.sentences import MAX_SENTENCE_CHARS, SentenceBuffer, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, you have reached the clinic. How can I help?", ["Hello, you have reached the clinic.", "How can I help?"]),
        ("Is it urgent? Please hold! Thank you.", ["Is it urgent?", "Please hold!", "Thank you."]),
        ("Wait?! Really.", ["Wait?!", "Really."]),
        ("One sentence without a stop", ["One sentence without a stop"]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("(See below.) Next one.", ["(See below.)", "Next one."]),
    ],
)
def test_basic_boundaries(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith will see you now.",
        "Mr. and Mrs. Jones are here, and Ms. Lee too.",
        "The clinic is on St. Mary's Road.",
        "Bring a photo ID, e.g. a driving licence, i.e. something official.",
        "Your appointment is at 9:30 a.m. on Monday.",
        "We close at 5 p.m. on Fridays.",
        "Please go to Room No. 5 on the left.",
        "Your temperature is 98.6 degrees.",
        "Take 2.5 mg twice a day.",
        "Call ext. 204 for billing.",
        "Dr. J. R. Smith is on call.",
        "Well... let me check that for you.",
        "It is 10:30 now.",
    ],
)
def test_does_not_split_inside(text: str) -> None:
    assert split_sentences(text) == [text]


def test_abbreviation_then_real_boundary() -> None:
    assert split_sentences("See Dr. Smith at 9 a.m. Bring your card.") == ["See Dr. Smith at 9 a.m.", "Bring your card."]
    assert split_sentences("No. We are closed on Sundays.") == ["No.", "We are closed on Sundays."]


def test_ellipsis() -> None:
    assert split_sentences("Hmm... Let me see. Okay… Found it!") == ["Hmm...", "Let me see.", "Okay…", "Found it!"]


def test_newlines_and_list_markers() -> None:
    text = "Here are the options:\n- Monday at 9\n- Tuesday at 2\n\n1. Bring your card\n2) Arrive early\r\nThanks"
    assert split_sentences(text) == [
        "Here are the options:",
        "Monday at 9",
        "Tuesday at 2",
        "Bring your card",
        "Arrive early",
        "Thanks",
    ]


def test_list_marker_only_at_line_start() -> None:
    assert split_sentences("It costs 5. 10 is too much.") == ["It costs 5.", "10 is too much."]
    assert split_sentences("The range is 1 - 2 days.") == ["The range is 1 - 2 days."]


def test_blank_and_symbol_only_text() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n\t ") == []
    assert split_sentences("... !!! 🙂") == []


def test_emoji_and_markdown_removed_whitespace_collapsed() -> None:
    assert split_sentences("**Great** news 🎉!   See   you 👍 soon.") == ["Great news!", "See you soon."]


def test_long_sentence_split_at_clauses() -> None:
    text = (
        "Your appointment is confirmed for Monday morning, please arrive fifteen minutes early, "
        "bring your insurance card and a list of your medications; if you need to cancel, call us "
        "at least a day ahead, otherwise there may be a fee, and we will send a reminder the day before."
    )
    assert len(text) > MAX_SENTENCE_CHARS
    pieces = split_sentences(text)
    assert len(pieces) >= 2
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert all(p[-1] in ",;." for p in pieces)  # cut after punctuation, not mid-clause
    assert " ".join(pieces) == text


def test_long_text_without_punctuation_is_cut_at_spaces() -> None:
    text = " ".join(["word"] * 200)
    pieces = split_sentences(text)
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert " ".join(pieces) == text
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in split_sentences("x" * 1000))


def test_buffer_waits_for_confirmation() -> None:
    buffer = SentenceBuffer()
    assert buffer.push("Please see Dr.") == []
    assert buffer.push(" Smith") == []  # "Dr." turned out not to end the sentence
    assert buffer.push(" today. ") == []  # cannot know yet whether "today." ends it
    assert buffer.push("He") == ["Please see Dr. Smith today."]
    assert buffer.push("'s in room 4.\nNext") == ["He's in room 4."]  # a newline ends it at once
    assert buffer.pending == "Next"
    assert buffer.flush() == ["Next"]
    assert buffer.flush() == []


def test_buffer_emits_long_run_on_before_it_ends() -> None:
    buffer = SentenceBuffer()
    out: list[str] = []
    for _ in range(60):
        out += buffer.push("and then, ")
    assert out, "a run-on sentence must not stall speech"
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in out)


CORPUS = [
    "Hello, you have reached the clinic. How can I help you today?",
    "Dr. Smith can see you at 9:30 a.m. on Monday. Does that work? Great!\nPlease bring your card.",
    "Options:\n- Monday\n- Tuesday\n1. Bring ID\n2) Arrive early. Thanks... See you!",
    "No. We are closed. Room No. 5 is upstairs, e.g. next to the lift. Your temp is 98.6 degrees.",
    "Hmm... let me check 🙂. Okay… Found it! **Done**.",
    " ".join(["This clause goes on, and on;"] * 20) + " The end. Bye.",
    " ".join(["word"] * 120) + ". Short one.",
]


@pytest.mark.parametrize("text", CORPUS)
def test_buffer_matches_one_shot_for_any_chunking(text: str) -> None:
    rng = random.Random(len(text))
    expected = split_sentences(text)
    for _ in range(30):
        buffer = SentenceBuffer()
        got: list[str] = []
        i = 0
        while i < len(text):
            step = rng.randint(1, 12)
            got += buffer.push(text[i : i + step])
            i += step
        got += buffer.flush()
        assert got == expected
    buffer = SentenceBuffer()  # one character at a time
    assert [s for ch in text for s in buffer.push(ch)] + buffer.flush() == expected
