"""Dates of birth, read in US order (MM/DD/YYYY, keypad MMDDYYYY) like the US phone numbers in
:mod:`graph.slots.phone`. Two-digit years are 19xx or 20xx, whichever puts the date in the past.
The date must be real, before today, and at most :data:`MAX_AGE_YEARS` ago; anything else is None,
so the navigator asks again rather than storing a guess."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from graph.schedule import spoken_date
from graph.slots.dates import month_and_day, real_date, year_digits_from
from graph.slots.numbers import ISO_DATE_TOKEN, US_DATE_TOKEN, Item, Num, read_numbers, tokens
from graph.slots.value import Said, SlotValue

MAX_AGE_YEARS = 120


def extract_date_of_birth(said: Said) -> SlotValue | None:
    """A real date before today, at most 120 years ago, from "March 3rd 1985", "3rd of March
    1985", "the third of march nineteen eighty five", "03/03/1985", "3-3-85" or keypad MMDDYYYY."""
    today = said.now.date()
    born = _keyed_birth_date(said.keys, today) if said.keys else None
    if born is None:
        born = _spoken_birth_date(read_numbers(tokens(said.text)), today)
    if born is None:
        return None
    return SlotValue(born.isoformat(), spoken_date(born, weekday=False, year=True))


def _keyed_birth_date(keys: str, today: date) -> date | None:
    """Keypad MMDDYYYY."""
    if len(keys) != 8:
        return None
    return _birth_date(keys[4:], int(keys[:2]), int(keys[2:4]), today)


def _spoken_birth_date(items: Sequence[Item], today: date) -> date | None:
    """Tries, in turn: a numeric date token, a month name with its day and year, then bare
    numbers in US order ("3 3 1985", "oh three oh three nineteen eighty five")."""
    for item in items:
        if isinstance(item, str) and (parsed := _numeric_date(item)) is not None:
            year, month, day = parsed
            born = _birth_date(year, month, day, today)
            if born is not None:
                return born
    named = month_and_day(items)
    if named is not None:
        month, day, _, after = named
        year_digits, _ = year_digits_from(items, after)
        return _birth_date(year_digits, month, day, today)
    return _numbers_only_birth_date([item for item in items if isinstance(item, Num)], today)


def _numeric_date(token: str) -> tuple[str, int, int] | None:
    """("year digits", month, day) from "03/03/1985", "3-3-85" (US order) or "1985-03-03"."""
    if match := ISO_DATE_TOKEN.fullmatch(token):
        return match.group(1), int(match.group(2)), int(match.group(3))
    if match := US_DATE_TOKEN.fullmatch(token):
        return match.group(3), int(match.group(1)), int(match.group(2))
    return None


def _numbers_only_birth_date(nums: Sequence[Num], today: date) -> date | None:
    """Month, day, then the year from the rest ("3 3 1985", "03 03 nineteen eighty five"), or one
    run of 8 digits read as MMDDYYYY ("03031985")."""
    if len(nums) >= 3 and all(not n.ordinal for n in nums[:2]):
        born = _birth_date("".join(n.digits for n in nums[2:]), nums[0].value, nums[1].value, today)
        if born is not None:
            return born
    digits = "".join(n.digits for n in nums)
    if len(digits) == 8:
        return _birth_date(digits[4:], int(digits[:2]), int(digits[2:4]), today)
    return None


def _birth_date(year_digits: str, month: int, day: int, today: date) -> date | None:
    """The date if it is real, before today and within :data:`MAX_AGE_YEARS`; a two-digit year
    is 20xx when that is already past, else 19xx."""
    if len(year_digits) == 2:
        candidates = [2000 + int(year_digits), 1900 + int(year_digits)]
    elif len(year_digits) == 4:
        candidates = [int(year_digits)]
    else:
        return None
    for year in candidates:
        born = real_date(year, month, day)
        if born is not None and born < today and _age(born, today) <= MAX_AGE_YEARS:
            return born
    return None


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
