"""Appointment offers from opening hours, and times read out for the voice (graph/schedule.py)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.schedule import (
    MIN_NOTICE,
    Schedule,
    describe_times,
    ordinal,
    spoken_clock,
    spoken_date,
    spoken_datetime,
)
from graph.schema import ClinicFacts, SlotKind
from graph.slots import extract

NOW = datetime(2026, 12, 1, 10, 15)  # a Tuesday

RIVERSIDE = ClinicFacts(
    name="Riverside Family Clinic",
    hours={
        "monday": "08:00-18:00",
        "tuesday": "08:00-18:00",
        "wednesday": "08:00-18:00",
        "thursday": "08:00-18:00",
        "friday": "08:00-17:00",
        "saturday": "09:00-12:00",
        "sunday": "closed",
    },
    appointment_minutes=20,
)


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute)


# --- slots and offers --------------------------------------------------------------------------


def test_next_offers_are_two_hours_out_on_the_grid() -> None:
    assert Schedule(RIVERSIDE).offers(NOW) == [at(1, 12, 20), at(1, 12, 40), at(1, 13, 0)]


def test_offers_skip_booked_slots() -> None:
    schedule = Schedule(RIVERSIDE, booked=[at(1, 12, 20), at(1, 13, 0)])
    assert schedule.offers(NOW) == [at(1, 12, 40), at(1, 13, 20), at(1, 13, 40)]


def test_offers_roll_over_to_the_next_open_day() -> None:
    assert Schedule(RIVERSIDE).offers(at(1, 16, 30)) == [at(2, 8, 0), at(2, 8, 20), at(2, 8, 40)]
    # Friday afternoon -> Saturday morning (Saturday is 09:00-12:00), Sunday closed -> Monday
    assert Schedule(RIVERSIDE).offers(at(4, 16, 0), count=2) == [at(5, 9, 0), at(5, 9, 20)]
    assert Schedule(RIVERSIDE).offers(at(5, 11, 0), count=1) == [at(7, 8, 0)]


def test_last_slot_ends_by_closing_time() -> None:
    schedule = Schedule(RIVERSIDE)
    slots = schedule.slots_on(date(2026, 12, 4))  # Friday 08:00-17:00
    assert slots[0] == at(4, 8, 0) and slots[-1] == at(4, 16, 40) and len(slots) == 27
    assert schedule.slots_on(date(2026, 12, 6)) == []  # Sunday


def test_offer_count_and_minimum_notice() -> None:
    schedule = Schedule(RIVERSIDE)
    assert schedule.offers(NOW, count=0) == []
    assert len(schedule.offers(NOW, count=5)) == 5
    assert all(offer >= NOW + MIN_NOTICE for offer in schedule.offers(NOW, count=40))
    exactly = at(1, 9, 40)  # +2 h = 11:40, a slot: offered
    assert schedule.offers(exactly, count=1) == [at(1, 11, 40)]


def test_offers_near_a_preferred_time() -> None:
    schedule = Schedule(RIVERSIDE)
    assert schedule.offers(NOW, prefer=at(3, 14, 0)) == [at(3, 13, 40), at(3, 14, 0), at(3, 14, 20)]


def test_preferred_time_taken_gives_its_neighbours() -> None:
    schedule = Schedule(RIVERSIDE, booked=[at(3, 14, 0)])
    assert schedule.offers(NOW, prefer=at(3, 14, 0)) == [at(3, 13, 20), at(3, 13, 40), at(3, 14, 20)]


def test_preferred_time_at_the_end_of_the_day() -> None:
    assert Schedule(RIVERSIDE).offers(NOW, prefer=at(4, 17, 0)) == [at(4, 16, 0), at(4, 16, 20), at(4, 16, 40)]


def test_preferred_closed_day_moves_to_the_next_open_one() -> None:
    assert Schedule(RIVERSIDE).offers(NOW, prefer=at(6, 10, 0)) == [at(7, 9, 40), at(7, 10, 0), at(7, 10, 20)]


def test_preferred_day_full_tops_up_from_the_next_day() -> None:
    saturday = [datetime.combine(date(2026, 12, 5), time(9, 0)) + timedelta(minutes=20 * k) for k in range(9)]
    schedule = Schedule(RIVERSIDE, booked=saturday[:-1])  # only 11:40 free on Saturday
    assert schedule.offers(NOW, prefer=at(5, 10, 0)) == [at(5, 11, 40), at(7, 9, 40), at(7, 10, 0)]


def test_preferred_time_too_soon_is_pushed_past_the_notice() -> None:
    assert Schedule(RIVERSIDE).offers(NOW, prefer=at(1, 11, 0)) == [at(1, 12, 20), at(1, 12, 40), at(1, 13, 0)]
    assert Schedule(RIVERSIDE).offers(NOW, prefer=at(1, 9, 0) - timedelta(days=30)) == Schedule(RIVERSIDE).offers(
        NOW, prefer=at(1, 12, 20)
    )


def test_slots_align_to_opening_time() -> None:
    clinic = ClinicFacts(name="Hilltop", hours={"tuesday": "08:30-12:00"}, appointment_minutes=45)
    schedule = Schedule(clinic)
    assert schedule.slots_on(date(2026, 12, 1)) == [at(1, 8, 30), at(1, 9, 15), at(1, 10, 0), at(1, 10, 45)]
    assert schedule.slots_on(date(2026, 12, 2)) == []  # missing days are closed
    assert schedule.offers(at(1, 6, 0)) == [at(1, 8, 30), at(1, 9, 15), at(1, 10, 0)]


def test_no_hours_means_no_offers() -> None:
    assert Schedule(ClinicFacts(name="Nowhere")).offers(NOW) == []
    assert Schedule(ClinicFacts(name="Nowhere")).offers(NOW, prefer=at(3, 10)) == []


# --- booking -----------------------------------------------------------------------------------


def test_book_and_cancel() -> None:
    schedule = Schedule(RIVERSIDE)
    assert schedule.book(at(2, 9, 20))
    assert not schedule.book(at(2, 9, 20))  # taken
    assert at(2, 9, 20) not in schedule.offers(at(2, 6, 0), count=10)
    assert schedule.booked == (at(2, 9, 20),)
    assert schedule.cancel(at(2, 9, 20))
    assert not schedule.cancel(at(2, 9, 20))  # nothing booked there any more
    assert schedule.book(at(2, 9, 20))


@pytest.mark.parametrize(
    "when",
    [
        at(6, 10, 0),  # Sunday: closed
        at(2, 7, 40),  # before opening
        at(2, 18, 0),  # at closing
        at(2, 17, 50),  # would run past closing, and off the grid
        at(2, 9, 10),  # off the 20-minute grid
        at(5, 12, 0),  # Saturday closes at noon
        datetime(2026, 12, 2, 9, 20, 30),  # seconds
    ],
)
def test_book_refuses_times_outside_hours(when: datetime) -> None:
    assert not Schedule(RIVERSIDE).book(when)


def test_booked_at_construction_is_taken() -> None:
    schedule = Schedule(RIVERSIDE, booked=[at(2, 8, 0)])
    assert not schedule.is_free(at(2, 8, 0))
    assert schedule.is_slot(at(2, 8, 0))
    assert not schedule.book(at(2, 8, 0))
    assert schedule.cancel(at(2, 8, 0))


# --- reading times out -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
                (21, "21st"), (22, "22nd"), (23, "23rd"), (31, "31st"), (101, "101st"), (111, "111th")],
)  # fmt: skip
def test_ordinal(n: int, text: str) -> None:
    assert ordinal(n) == text


@pytest.mark.parametrize(
    "clock, text",
    [(time(9, 0), "9 AM"), (time(9, 30), "9:30 AM"), (time(14, 0), "2 PM"), (time(14, 5), "2:05 PM"),
     (time(12, 0), "noon"), (time(12, 20), "12:20 PM"), (time(0, 0), "midnight"), (time(0, 40), "12:40 AM")],
)  # fmt: skip
def test_spoken_clock(clock: time, text: str) -> None:
    assert spoken_clock(clock) == text


def test_spoken_date() -> None:
    assert spoken_date(date(2026, 12, 3)) == "Thursday, December 3rd"
    assert spoken_date(date(1985, 3, 3), weekday=False, year=True) == "March 3rd, 1985"


@pytest.mark.parametrize(
    "when, text",
    [
        (at(1, 15, 0), "today at 3 PM"),
        (at(2, 9, 0), "tomorrow at 9 AM"),
        (at(3, 14, 0), "Thursday, December 3rd at 2 PM"),
        (datetime(2027, 1, 4, 9, 20), "Monday, January 4th at 9:20 AM"),
        (datetime(2027, 12, 6, 9, 0), "Monday, December 6th, 2027 at 9 AM"),
    ],
)
def test_spoken_datetime(when: datetime, text: str) -> None:
    assert spoken_datetime(when, NOW) == text


def test_spoken_datetime_without_relative_words() -> None:
    assert spoken_datetime(at(2, 9, 30), NOW, relative=False) == "Wednesday, December 2nd at 9:30 AM"


def test_describe_times() -> None:
    times = [at(2, 9, 0), at(2, 9, 20), at(3, 14, 0)]
    assert describe_times(times, NOW) == "tomorrow at 9 AM, tomorrow at 9:20 AM, or Thursday, December 3rd at 2 PM"
    assert describe_times(times[:2], NOW) == "tomorrow at 9 AM or tomorrow at 9:20 AM"
    assert describe_times(times[:1], NOW) == "tomorrow at 9 AM"
    assert describe_times([], NOW) == ""


# --- offers and the caller's answer together ---------------------------------------------------


def test_offer_then_pick_then_book() -> None:
    schedule = Schedule(RIVERSIDE)
    offers = schedule.offers(NOW)
    assert describe_times(offers, NOW) == "today at 12:20 PM, today at 12:40 PM, or today at 1 PM"
    picked = extract(SlotKind.DATETIME, "Um, the 12:40 one please.", now=NOW, offers=offers)
    assert picked is not None and picked.value == "2026-12-01T12:40"
    assert schedule.book(datetime.fromisoformat(picked.value))
    assert at(1, 12, 40) not in schedule.offers(NOW)


def test_request_then_offers_near_it() -> None:
    schedule = Schedule(RIVERSIDE)
    offers = schedule.offers(NOW)
    asked = extract(SlotKind.DATETIME, "do you have anything Thursday afternoon", now=NOW, offers=offers)
    assert asked is not None and asked.value == "2026-12-03T14:00"
    near = schedule.offers(NOW, prefer=datetime.fromisoformat(asked.value))
    assert near == [at(3, 13, 40), at(3, 14, 0), at(3, 14, 20)]
    again = extract(SlotKind.DATETIME, "the last one", now=NOW, offers=near)
    assert again is not None and again.spoken == "Thursday, December 3rd at 2:20 PM"


@settings(max_examples=100, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    prefer=st.none() | st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2028, 6, 1)),
    count=st.integers(0, 6),
)
def test_offers_are_free_slots_after_the_notice(now: datetime, prefer: datetime | None, count: int) -> None:
    schedule = Schedule(RIVERSIDE, booked=[at(2, 9, 0), at(2, 9, 20)])
    offers = schedule.offers(now, count=count, prefer=prefer)
    assert len(offers) == count  # this clinic always has room within the horizon
    assert offers == sorted(set(offers))
    assert all(schedule.is_free(o) and o >= now + MIN_NOTICE for o in offers)
