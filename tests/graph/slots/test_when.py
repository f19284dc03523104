"""Appointment times: requested, and picked among offers (graph/slots/when.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings

from graph.schema import SlotKind
from graph.slots import SlotValue, extract
from tests.graph.slots.helpers import NOW, OFFERS, any_text, instants, offer_lists, value


@pytest.mark.parametrize(
    "text, when",
    [
        ("tomorrow at 3 pm", "2026-12-02T15:00"),
        ("Tomorrow at 3 P.M.", "2026-12-02T15:00"),
        ("tomorrow at 3pm", "2026-12-02T15:00"),
        ("next Tuesday morning", "2026-12-08T09:00"),
        ("Tuesday", "2026-12-08T09:00"),  # today is Tuesday: the next one
        ("Monday at 10", "2026-12-07T10:00"),
        ("Monday at ten", "2026-12-07T10:00"),
        ("December 4th at 2:30", "2026-12-04T14:30"),
        ("the 4th of December at 2:30 pm", "2026-12-04T14:30"),
        ("this afternoon", "2026-12-01T14:00"),
        ("this evening", "2026-12-01T17:00"),
        ("um can I come in tomorrow morning", "2026-12-02T09:00"),
        ("How about Friday at ten thirty?", "2026-12-04T10:30"),
        ("at 3", "2026-12-01T15:00"),  # 1-6 are PM; today is still ahead
        ("at 9", "2026-12-02T09:00"),  # passed today -> tomorrow
        ("today", "2026-12-01T11:00"),  # 09:00 passed -> next full hour
        ("the day after tomorrow at 4", "2026-12-03T16:00"),
        ("next week", "2026-12-07T09:00"),
        ("next week Thursday afternoon", "2026-12-10T14:00"),
        ("the 4th at 11am", "2026-12-04T11:00"),
        ("January 5th", "2027-01-05T09:00"),  # passed this year? no: Jan is next year
        ("November 3rd", "2027-11-03T09:00"),
        ("in two weeks", "2026-12-15T09:00"),
        ("in 3 days", "2026-12-04T09:00"),
        ("half past two tomorrow", "2026-12-02T14:30"),
        ("quarter to ten on Monday", "2026-12-07T09:45"),
        ("7 in the evening tomorrow", "2026-12-02T19:00"),
        ("tomorrow at 8 in the morning", "2026-12-02T08:00"),
        ("at noon on Wednesday", "2026-12-02T12:00"),
        ("Monday the 7th at nine oh five", "2026-12-07T09:05"),
        ("Thursday at 14:30", "2026-12-03T14:30"),
        ("the one o'clock one", "2026-12-01T13:00"),
        ("Friday afternoon at 4", "2026-12-04T16:00"),
        ("Wednesday 9:30 a.m.", "2026-12-02T09:30"),
        ("first thing tomorrow", "2026-12-02T09:00"),
        ("December 4th 10 30", "2026-12-04T10:30"),
        ("December 4th, 2026 at 10", "2026-12-04T10:00"),
    ],
)
def test_requested_time(text: str, when: str) -> None:
    assert value(SlotKind.DATETIME, text) == when


def test_requested_time_is_read_back_in_full() -> None:
    found = extract(SlotKind.DATETIME, "Wednesday at 9:30", now=NOW)
    assert found == SlotValue("2026-12-02T09:30", "Wednesday, December 2nd at 9:30 AM")


@pytest.mark.parametrize(
    "text",
    [
        "today at 9",  # passed
        "December 1st at 9",
        "February 30th",
        "I don't know",
        "whenever",
        "the first one",  # nothing was offered
        "that one",
        "",
    ],
)
def test_no_requested_time(text: str) -> None:
    assert value(SlotKind.DATETIME, text) is None


def test_this_morning_after_nine_is_the_next_hour_while_it_lasts() -> None:
    assert value(SlotKind.DATETIME, "this morning") == "2026-12-01T11:00"
    assert value(SlotKind.DATETIME, "this morning", now=datetime(2026, 12, 1, 11, 30)) is None
    assert value(SlotKind.DATETIME, "morning", now=datetime(2026, 12, 1, 11, 30)) == "2026-12-02T09:00"


def test_late_at_night_rolls_to_tomorrow() -> None:
    late = datetime(2026, 12, 1, 22, 0)
    assert value(SlotKind.DATETIME, "at 10", now=late) == "2026-12-02T10:00"
    assert value(SlotKind.DATETIME, "afternoon", now=late) == "2026-12-02T14:00"


def test_year_end_wraps() -> None:
    new_years_eve = datetime(2026, 12, 31, 16, 0)
    assert value(SlotKind.DATETIME, "January 2nd at 10", now=new_years_eve) == "2027-01-02T10:00"
    assert value(SlotKind.DATETIME, "the 2nd", now=new_years_eve) == "2027-01-02T09:00"
    assert value(SlotKind.DATETIME, "tomorrow", now=new_years_eve) == "2027-01-01T09:00"


@pytest.mark.parametrize(
    "text, index",
    [
        ("the first one", 0),
        ("The first one, please.", 0),
        ("first", 0),
        ("the 1st one", 0),
        ("the second", 1),
        ("Um, the second one.", 1),
        ("the third", 2),
        ("the 3rd", 2),  # an ordinal within the offers picks, even if it could be a date
        ("the last one", 2),
        ("the earliest", 0),
        ("the middle one", 1),
        ("option 2", 1),
        ("number three", 2),
        ("the 10 o'clock one", None),  # not offered: see below
        ("the 9:20", 1),
        ("the 9:20 one", 1),
        ("9 o'clock", 0),
        ("the nine o'clock one", 0),
        ("at 9", 0),
        ("tomorrow at 9", 0),
        ("Thursday", 2),
        ("the Thursday one", 2),
        ("Thursday at 2", 2),
        ("the 2 o'clock", 2),
        ("at 2", 2),
        ("two pm", 2),
        ("the afternoon one", 2),
        ("December 3rd", 2),
        ("the 3rd of December", 2),
    ],
)
def test_offer_picked(text: str, index: int | None) -> None:
    found = value(SlotKind.DATETIME, text, offers=OFFERS)
    if index is None:
        assert found == "2026-12-02T10:00"  # the requested time instead
    else:
        assert found == OFFERS[index].isoformat(timespec="minutes")


def test_offer_keyed() -> None:
    assert value(SlotKind.DATETIME, "", dtmf="2", offers=OFFERS) == "2026-12-02T09:20"
    assert value(SlotKind.DATETIME, "", dtmf="7", offers=OFFERS) is None


@pytest.mark.parametrize(
    "text, when",
    [
        ("Friday", "2026-12-04T09:00"),  # no offer on Friday: the requested day
        ("first thing Thursday", "2026-12-03T09:00"),  # the Thursday offer is in the afternoon
        ("Wednesday afternoon", "2026-12-02T14:00"),
        ("tomorrow at 11", "2026-12-02T11:00"),
        ("how about Monday at 3", "2026-12-07T15:00"),
    ],
)
def test_no_offer_fits_so_the_request_is_returned(text: str, when: str) -> None:
    assert value(SlotKind.DATETIME, text, offers=OFFERS) == when


def test_ambiguous_among_offers_returns_the_request() -> None:
    # "Wednesday" fits two offers: the value is the requested Wednesday 09:00 (the navigator
    # re-offers around it), which here happens to equal the first offer.
    assert value(SlotKind.DATETIME, "Wednesday", offers=OFFERS) == "2026-12-02T09:00"
    two_at_nine = (datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 3, 9, 0))
    assert value(SlotKind.DATETIME, "the 9 o'clock", offers=two_at_nine) == "2026-12-02T09:00"
    assert value(SlotKind.DATETIME, "Thursday at 9", offers=two_at_nine) == "2026-12-03T09:00"


def test_offer_in_the_past_is_refused() -> None:
    assert value(SlotKind.DATETIME, "the first one", offers=(NOW - timedelta(hours=1),)) is None


def test_fourth_ordinal_with_three_offers_is_a_day_of_the_month() -> None:
    assert value(SlotKind.DATETIME, "the 4th", offers=OFFERS) == "2026-12-04T09:00"


@settings(max_examples=150, deadline=None)
@given(text=any_text, now=instants, offers=offer_lists)
def test_appointment_time_is_always_in_the_future(text: str, now: datetime, offers: list[datetime]) -> None:
    found = extract(SlotKind.DATETIME, text, now=now, offers=offers)
    if found is not None:
        assert datetime.fromisoformat(found.value) > now
