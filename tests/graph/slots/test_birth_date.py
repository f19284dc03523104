"""Dates of birth (graph/slots/birth_date.py)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.schema import SlotKind
from graph.slots import SlotValue, extract
from tests.graph.slots.helpers import NOW, any_text, instants, value


@pytest.mark.parametrize(
    "text, born",
    [
        ("March 3rd 1985", "1985-03-03"),
        ("March 3rd, 1985.", "1985-03-03"),
        ("March 3, 1985.", "1985-03-03"),
        ("3rd of March 1985", "1985-03-03"),
        ("the 3rd of March, 1985", "1985-03-03"),
        ("the third of march nineteen eighty five", "1985-03-03"),
        ("March the third, nineteen eighty-five", "1985-03-03"),
        ("Um, it's March the 3rd, 1985.", "1985-03-03"),
        ("born on March 3rd, 1985", "1985-03-03"),
        ("03/03/1985", "1985-03-03"),
        ("3/3/1985", "1985-03-03"),
        ("3-3-85", "1985-03-03"),
        ("3.3.85", "1985-03-03"),
        ("12/25/1985", "1985-12-25"),
        ("1985-03-03", "1985-03-03"),
        ("3 3 1985", "1985-03-03"),
        ("oh three oh three nineteen eighty five", "1985-03-03"),
        ("zero three zero three one nine eight five", "1985-03-03"),
        ("twenty third of june nineteen seventy", "1970-06-23"),
        ("June twenty third, nineteen seventy", "1970-06-23"),
        ("March twenty third, two thousand and one", "2001-03-23"),
        ("July 4th, '76", "1976-07-04"),
        ("the first of january nineteen oh seven", "1907-01-01"),
        ("May 5th, 2010", "2010-05-05"),
        ("Feb 29 2000", "2000-02-29"),
        ("Dec 31st 1999", "1999-12-31"),
        ("11/30/26", "2026-11-30"),  # yesterday: two-digit year in the past -> 20xx
        ("12-1-26", "1926-12-01"),  # today in 2026 is not past -> 19xx
        ("5/6/07", "2007-05-06"),
    ],
)
def test_date_of_birth(text: str, born: str) -> None:
    assert value(SlotKind.DATE_OF_BIRTH, text) == born


def test_date_of_birth_spoken_back() -> None:
    assert extract(SlotKind.DATE_OF_BIRTH, "3-3-85", now=NOW) == SlotValue("1985-03-03", "March 3rd, 1985")


@pytest.mark.parametrize(
    "text",
    [
        "February 30th 1990",  # not a real date
        "February 29th 2001",
        "13/01/1985",  # US order: no 13th month
        "March 3rd 2030",  # future
        "December 1st 2026",  # today is not in the past
        "January 1st 1900",  # over 120
        "March 3rd",  # no year
        "March 1985",
        "I don't know",
        "may I ask why",
        "",
        "oh",
    ],
)
def test_not_a_date_of_birth(text: str) -> None:
    assert value(SlotKind.DATE_OF_BIRTH, text) is None


def test_date_of_birth_keypad() -> None:
    assert value(SlotKind.DATE_OF_BIRTH, "", dtmf="03031985") == "1985-03-03"
    assert value(SlotKind.DATE_OF_BIRTH, "", dtmf="0303198#") is None  # 7 digits
    assert value(SlotKind.DATE_OF_BIRTH, "", dtmf="02301990") is None
    assert value(SlotKind.DATE_OF_BIRTH, "March 3rd 1985", dtmf="12") == "1985-03-03"  # bad keys: the words


@settings(max_examples=150, deadline=None)
@given(text=any_text, dtmf=st.text("0123456789", max_size=9), now=instants)
def test_date_of_birth_is_always_in_the_past(text: str, dtmf: str, now: datetime) -> None:
    found = extract(SlotKind.DATE_OF_BIRTH, text, dtmf=dtmf, now=now)
    if found is not None:
        born = date.fromisoformat(found.value)
        assert born < now.date()
        assert born.year >= now.year - 121


MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December"]  # fmt: skip


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


@settings(max_examples=150, deadline=None)
@given(
    born=st.dates(min_value=date(1907, 1, 1), max_value=date(2026, 11, 30)),
    style=st.sampled_from(["{M} {o}, {Y}", "{o} of {M} {Y}", "{m:02d}/{d:02d}/{Y}", "{m}-{d}-{Y}", "born on {M} {d}, {Y}."]),
)
def test_date_of_birth_round_trip(born: date, style: str) -> None:
    text = style.format(M=MONTH_NAMES[born.month - 1], o=ordinal(born.day), d=born.day, m=born.month, Y=born.year)
    assert value(SlotKind.DATE_OF_BIRTH, text) == born.isoformat()


@settings(max_examples=200, deadline=None)
@given(born=st.dates(min_value=date(1907, 1, 1), max_value=date(2026, 11, 30)))
def test_date_of_birth_keypad_round_trip(born: date) -> None:
    assert value(SlotKind.DATE_OF_BIRTH, "", dtmf=born.strftime("%m%d%Y")) == born.isoformat()
