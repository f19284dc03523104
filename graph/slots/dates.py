"""Month names and the day and year said with them ("March 3rd", "the third of march nineteen
eighty five"), read the same way for a date of birth (:mod:`graph.slots.birth_date`) and an
appointment day (:mod:`graph.slots.when`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from graph.slots.numbers import Item, Num, num_at, word_at

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip


def real_date(year: int, month: int, day: int) -> date | None:
    """The date, or None for February 30th and friends."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def month_and_day(items: Sequence[Item]) -> tuple[int, int, set[int], int] | None:
    """(month, day, indexes used, index after) for "march 3rd", "march the third", "3rd of
    march", "the 3rd march". A month name with no day next to it is no date ("may I ask")."""
    for k, item in enumerate(items):
        month = MONTHS.get(item) if isinstance(item, str) else None
        if month is None:
            continue
        after = k + 2 if word_at(items, k + 1) == "the" else k + 1
        before = k - 2 if word_at(items, k - 1) == "of" else k - 1
        day_after, day_before = _day_number(items, after), _day_number(items, before)
        # "the third of march nineteen eighty five": the day before wins when tied to the month
        # by "of" or an ordinal, else "march 3rd" order ("at 10 December 4th").
        if day_before is not None and (before == k - 2 or day_before.ordinal or day_after is None):
            return month, day_before.value, {before, k}, k + 1
        if day_after is not None:
            return month, day_after.value, {k, after}, after + 1
    return None


def _day_number(items: Sequence[Item], i: int) -> Num | None:
    """A number that can be a day of the month: 1-31, said with at most two digits."""
    num = num_at(items, i)
    return num if num is not None and 1 <= num.value <= 31 and len(num.digits) <= 2 else None


def year_digits_from(items: Sequence[Item], i: int) -> tuple[str, set[int]]:
    """The digits of the year said from ``i`` ("1985", "nineteen eighty five", "'85", "two
    thousand and one"), skipping a joining "in"/"of"/"and"; "" when none is there."""
    while word_at(items, i) in ("in", "of", "and", "year", "the"):
        i += 1
    digits: list[str] = []
    used: set[int] = set()
    while (num := num_at(items, i)) is not None and not num.ordinal:
        digits.append(num.digits)
        used.add(i)
        i += 1
    return "".join(digits), used
