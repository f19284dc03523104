"""Appointment offers from the clinic's opening hours, and how times are read out.

The embedded :class:`Schedule` is an in-memory stand-in with no real calendar behind it: it knows
the clinic's opening hours (``clinic.hours``) and slot length (``clinic.appointment_minutes``)
and the bookings made through it during this process. A clinic replaces it with its booking
system (same three calls: ``offers``, ``book``, ``cancel``); the ``appointment_booked`` webhook is
where a booking reaches the real calendar.

Time zone: every datetime here is *naive* and means the clinic's local wall-clock time. ``now``
must be naive local time too (mixing in aware datetimes raises ``TypeError`` from Python's own
comparisons). The graph never needs a zone: the caller and the clinic talk in local time.

Slots are aligned to the opening time: a clinic open 08:30-12:00 with 20-minute appointments
offers 08:30, 08:50, ... 11:30 (the last slot must *end* by closing time). Days missing from
``clinic.hours`` are closed; a clinic without hours has nothing to offer."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta

from graph.schema import ClinicFacts

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIN_NOTICE = timedelta(hours=2)
"""The earliest offer is at least this long after ``now``: staff need time to prepare, and a
caller can still get there."""
HORIZON_DAYS = 90
"""How far ahead offers are searched; beyond this the caller is better served by a person."""


class Schedule:
    """Free appointment slots of one clinic, from its opening hours minus what is booked."""

    def __init__(self, clinic: ClinicFacts, booked: Iterable[datetime] = ()) -> None:
        self._length = timedelta(minutes=clinic.appointment_minutes)
        spans: dict[str, str] = dict(clinic.hours)
        self._hours = tuple(_opening_hours(spans.get(day, "closed")) for day in WEEKDAYS)
        self._booked: set[datetime] = set(booked)

    @property
    def booked(self) -> tuple[datetime, ...]:
        """The booked times, earliest first."""
        return tuple(sorted(self._booked))

    def slots_on(self, day: date) -> list[datetime]:
        """Every bookable start time on ``day`` (booked or not), earliest first."""
        hours = self._hours[day.weekday()]
        if hours is None:
            return []
        opening, closing = (datetime.combine(day, t) for t in hours)
        slots: list[datetime] = []
        start = opening
        while start + self._length <= closing:
            slots.append(start)
            start += self._length
        return slots

    def is_slot(self, when: datetime) -> bool:
        """Whether ``when`` is a start time the clinic offers (inside hours, on the slot grid)."""
        hours = self._hours[when.weekday()]
        if hours is None or when.second or when.microsecond:
            return False
        opening = datetime.combine(when.date(), hours[0])
        closing = datetime.combine(when.date(), hours[1])
        if when < opening or when + self._length > closing:
            return False
        return (when - opening) % self._length == timedelta(0)

    def is_free(self, when: datetime) -> bool:
        """A valid slot that nobody has booked."""
        return self.is_slot(when) and when not in self._booked

    def offers(self, now: datetime, count: int = 3, prefer: datetime | None = None) -> list[datetime]:
        """Up to ``count`` free slots, earliest first, all at least :data:`MIN_NOTICE` after ``now``.

        Without ``prefer``: the next free slots. With ``prefer`` (a time the caller asked for):
        the free slots on the first open day on or after ``prefer``'s day that has any, nearest
        to the preferred time of day, topped up from the following days the same way. Fewer (or
        none) come back when the next :data:`HORIZON_DAYS` days are full or closed."""
        if count <= 0:
            return []
        earliest = now + MIN_NOTICE
        if prefer is None:
            found: list[datetime] = []
            for day in _days_from(earliest.date()):
                found.extend(self._free_on(day, earliest)[: count - len(found)])
                if len(found) == count:
                    break
            return found
        target = prefer.hour * 60 + prefer.minute
        chosen: list[datetime] = []
        for day in _days_from(max(prefer.date(), earliest.date())):
            free = sorted(self._free_on(day, earliest), key=lambda s: abs(s.hour * 60 + s.minute - target))
            chosen.extend(free[: count - len(chosen)])
            if len(chosen) == count:
                break
        return sorted(chosen)

    def book(self, when: datetime) -> bool:
        """Takes the slot; False when it is not a slot the clinic offers or is already taken."""
        if not self.is_free(when):
            return False
        self._booked.add(when)
        return True

    def cancel(self, when: datetime) -> bool:
        """Frees a booked slot; False when nothing was booked at ``when``."""
        if when not in self._booked:
            return False
        self._booked.remove(when)
        return True

    def _free_on(self, day: date, earliest: datetime) -> list[datetime]:
        return [s for s in self.slots_on(day) if s >= earliest and s not in self._booked]


def _opening_hours(span: str) -> tuple[time, time] | None:
    """``'08:00-18:00'`` -> (08:00, 18:00); ``'closed'`` -> None. ClinicFacts already checked the shape."""
    if span == "closed":
        return None
    opening, closing = span.split("-")
    return time.fromisoformat(opening), time.fromisoformat(closing)


def _days_from(first: date) -> Iterator[date]:
    for offset in range(HORIZON_DAYS + 1):
        yield first + timedelta(days=offset)


# --- reading times out -------------------------------------------------------------------------
# Written for a TTS voice: "9 AM" and "9:30 AM" rather than "09:00", ordinals as "3rd" (the voice
# reads them as "third"), weekday and month names in full.


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{({1: 'st', 2: 'nd', 3: 'rd'}).get(n % 10, 'th')}"


def spoken_clock(t: time | datetime) -> str:
    """'9 AM', '9:30 AM', '2 PM', 'noon', 'midnight'."""
    if (t.hour, t.minute) == (12, 0):
        return "noon"
    if (t.hour, t.minute) == (0, 0):
        return "midnight"
    hour = t.hour % 12 or 12
    suffix = "AM" if t.hour < 12 else "PM"
    return f"{hour} {suffix}" if t.minute == 0 else f"{hour}:{t.minute:02d} {suffix}"


def spoken_date(day: date, *, weekday: bool = True, year: bool = False) -> str:
    """'Thursday, December 3rd'; with ``year``: 'Thursday, December 3rd, 2026'; a date of birth
    is ``weekday=False, year=True``: 'March 3rd, 1985'."""
    text = f"{day.strftime('%B')} {ordinal(day.day)}"
    if weekday:
        text = f"{day.strftime('%A')}, {text}"
    return f"{text}, {day.year}" if year else text


def spoken_datetime(when: datetime, now: datetime, *, relative: bool = True) -> str:
    """'tomorrow at 9 AM', 'Thursday, December 3rd at 2 PM'. ``relative=False`` never says
    today/tomorrow (a read-back to confirm: 'Wednesday, December 2nd at 9:30 AM'). The year is
    said only when the date is not within the coming ~10 months."""
    days_ahead = (when.date() - now.date()).days
    if relative and days_ahead == 0:
        day_text = "today"
    elif relative and days_ahead == 1:
        day_text = "tomorrow"
    else:
        day_text = spoken_date(when.date(), year=when.year != now.year and not 0 <= days_ahead <= 300)
    clock = spoken_clock(when)
    return f"{day_text} at {clock}"


def describe_times(times: Sequence[datetime], now: datetime) -> str:
    """The offers as one phrase: 'tomorrow at 9 AM, tomorrow at 9:20 AM, or Thursday, December
    3rd at 2 PM'. Empty when there are none."""
    spoken = [spoken_datetime(t, now) for t in times]
    if len(spoken) <= 1:
        return "".join(spoken)
    if len(spoken) == 2:
        return f"{spoken[0]} or {spoken[1]}"
    return f"{', '.join(spoken[:-1])}, or {spoken[-1]}"


__all__ = [
    "HORIZON_DAYS",
    "MIN_NOTICE",
    "WEEKDAYS",
    "Schedule",
    "describe_times",
    "ordinal",
    "spoken_clock",
    "spoken_date",
    "spoken_datetime",
]
