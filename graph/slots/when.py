"""Appointment times (the ``datetime`` slot), always after ``now``.

With ``offers`` (the times just read out), the caller's words first pick one: an ordinal ("the
second one", "the last one", keypad 2), or a weekday / date / time / part of day that fits exactly
one offer ("the Thursday one", "the 10 o'clock"). When nothing identifies exactly one offer, the
value is the time the caller asked for, and the navigator offers the nearest free slots to it
(:meth:`graph.schedule.Schedule.offers` with ``prefer``).

A requested time with no clock time defaults to 09:00 for morning, 14:00 for afternoon, 17:00 for
evening, and 09:00 otherwise; when that default has passed today, it becomes the next full hour if
that is still in the same part of the day. A bare hour is read as clinic hours do: 1 to 6 are PM,
7 to 11 are AM ("at 3" is 15:00, "at 10" is 10:00) unless "am"/"pm" or a part of the day says
otherwise. A weekday means its next occurrence after today; "next Tuesday" means the same
("Tuesday" said on a Tuesday is a week away), while "next week" means the week starting next
Monday. A time with no day is today if still ahead, else tomorrow; a named day or time that has
passed ("today at 9" at 10:15) is None.

All datetimes are naive clinic-local time (see :mod:`graph.schedule`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from graph.schedule import spoken_datetime
from graph.slots.dates import month_and_day, real_date, year_digits_from
from graph.slots.numbers import CLOCK_TOKEN, NUMBER_WORDS, Item, Num, num_at, read_numbers, tokens, word_at
from graph.slots.value import Said, SlotValue

WEEKDAY_NAMES = {
    "monday": 0, "tuesday": 1, "tues": 1, "wednesday": 2, "weds": 2, "thursday": 3, "thurs": 3,
    "friday": 4, "saturday": 5, "sunday": 6,
}  # fmt: skip
PART_DEFAULTS = {"morning": time(9, 0), "afternoon": time(14, 0), "evening": time(17, 0)}
"""The time meant by a part of the day said without a clock time."""
PART_ENDS = {"morning": time(12, 0), "afternoon": time(17, 0), "evening": time(21, 0)}
NO_TIME_DEFAULT = time(9, 0)
_PART_WORDS = {"morning": "morning", "afternoon": "afternoon", "evening": "evening", "tonight": "evening", "night": "evening"}
_HOUR_CUES_BEFORE = frozenset({"at", "around", "about", "by", "after", "say", "from", "for"})
_HOUR_CUES_AFTER = frozenset({"am", "pm", "o'clock", "oclock", "ish"})
_PRONOUN_ONE_AFTER = frozenset(
    {"the", "that", "this", "last", "middle", "other", "another", "which", "earlier", "later", "earliest",
     "latest", "early", "late", "o'clock", "oclock", "am", "pm", "morning", "afternoon", "evening", "noon",
     "today", "tomorrow", "any", "first", "second", "third", "fourth", "fifth", *WEEKDAY_NAMES}
)  # fmt: skip
""""one" after these is a pronoun ("the first one", "the 10 o'clock one"), not the number 1."""


@dataclass(frozen=True, slots=True)
class _Heard:
    """What the caller said about a time, before it is resolved against ``now`` or the offers."""

    pick: int | None = None  # index into the offers; -1 is the last
    month_day: tuple[int, int] | None = None
    year: int | None = None
    day_of_month: int | None = None
    day_offset: int | None = None  # today 0, tomorrow 1, "in 3 days" 3
    weekday: int | None = None
    next_week: bool = False
    hour: int | None = None  # as said: "at 3" is 3 here, 15 only after _resolved_hour
    minute: int | None = None  # None: no minutes said
    meridiem: str | None = None  # "am" / "pm"
    part: str | None = None  # morning / afternoon / evening

    @property
    def names_a_day(self) -> bool:
        return any(x is not None for x in (self.month_day, self.day_of_month, self.day_offset, self.weekday)) or (
            self.next_week
        )


def extract_datetime(said: Said) -> SlotValue | None:
    """One of ``offers`` the caller picked, else the time they asked for (module docstring has
    the rules); always after ``now``."""
    keys, now, offers = said.keys, said.now, said.offers
    chosen: datetime | None = None
    if offers and len(keys) == 1 and 1 <= int(keys) <= len(offers):
        chosen = offers[int(keys) - 1]
    else:
        heard = _hear(read_numbers(_drop_pronoun_one(tokens(said.text))), len(offers))
        if offers:
            chosen = _offer_heard(heard, offers, now)
        if chosen is None:
            chosen = _requested_time(heard, now)
    if chosen is None or chosen <= now:
        return None
    return SlotValue(chosen.isoformat(timespec="minutes"), spoken_datetime(chosen, now, relative=False))


_PRONOUN = "_one"
"""Stands in for "one" as a pronoun; the tokenizer never makes a word starting with "_"."""


def _drop_pronoun_one(words: Sequence[str]) -> list[str]:
    """Marks "one"/"ones" used as a pronoun ("the first one", "the 10 o'clock one") so it is not
    read as 1 o'clock. "the one o'clock one" keeps its first "one" as a number."""
    out: list[str] = []
    for k, word in enumerate(words):
        if word in ("one", "ones") and out:
            previous = out[-1]
            following = words[k + 1] if k + 1 < len(words) else ""
            is_time_next = following in _HOUR_CUES_AFTER or following in NUMBER_WORDS or following[:1].isdigit()
            if not is_time_next and (previous in _PRONOUN_ONE_AFTER or previous[:1].isdigit()):
                word = _PRONOUN
        out.append(word)
    return out


def _hear(items: Sequence[Item], offer_count: int) -> _Heard:
    """Everything the caller said about a time, each part read by its own helper."""
    heard = _Heard()
    used: set[int] = set()
    named = month_and_day(items)
    if named is not None:
        month, day, named_used, after = named
        year_digits, year_used = year_digits_from(items, after)
        used |= named_used
        heard = replace(heard, month_day=(month, day))
        if len(year_digits) == 4 and 2000 <= int(year_digits) < 2200:  # not "December 4th 10 30"
            heard = replace(heard, year=int(year_digits))
            used |= year_used
    heard, used = _hear_days(items, heard, used)
    heard, used = _hear_pick(items, heard, used, offer_count)
    heard, used = _hear_clock(items, heard, used)
    return replace(heard, part=_part_said(items))


def _part_said(items: Sequence[Item]) -> str | None:
    """Morning / afternoon / evening ("tonight" is evening, "first thing" is morning), or None."""
    for k, item in enumerate(items):
        if isinstance(item, str) and item in _PART_WORDS:
            return _PART_WORDS[item]
        if item == "thing" and (first := num_at(items, k - 1)) is not None and first.ordinal and first.value == 1:
            return "morning"
    return None


def _hear_days(items: Sequence[Item], heard: _Heard, used: set[int]) -> tuple[_Heard, set[int]]:
    """Weekdays, "today"/"tomorrow"/"the day after tomorrow", "this afternoon", "next week",
    "in 3 days"."""
    used = set(used)
    for k, item in enumerate(items):
        if not isinstance(item, str):
            continue
        following = word_at(items, k + 1)
        if item in WEEKDAY_NAMES and heard.weekday is None:
            heard = replace(heard, weekday=WEEKDAY_NAMES[item])
        elif item == "tomorrow" and heard.day_offset is None:
            after = (word_at(items, k - 2), word_at(items, k - 1)) == ("day", "after")
            heard = replace(heard, day_offset=2 if after else 1)
        elif item in ("today", "tonight") or (item == "this" and following in _PART_WORDS):
            heard = replace(heard, day_offset=0)
        elif item == "next" and following == "week":
            heard = replace(heard, next_week=True)
        elif item == "in" and following in ("a", "an") and word_at(items, k + 2) == "week":
            heard = replace(heard, day_offset=7)
        elif item == "in" and (num := num_at(items, k + 1)) is not None and word_at(items, k + 2) in (
            "day", "days", "week", "weeks",
        ):  # fmt: skip
            scale = 7 if word_at(items, k + 2).startswith("week") else 1
            if 0 <= num.value <= 60:
                heard = replace(heard, day_offset=num.value * scale)
                used.add(k + 1)
    return heard, used


def _hear_pick(items: Sequence[Item], heard: _Heard, used: set[int], offer_count: int) -> tuple[_Heard, set[int]]:
    """An offer picked by position ("the first one", "the second", "the last one", "option 2",
    "the earliest"), or else an ordinal as a day of the month ("the 4th")."""
    used = set(used)
    for k, item in enumerate(items):
        if k in used:
            continue
        if offer_count and item in ("last", "latest", "final") and word_at(items, k + 1) != "week":
            return replace(heard, pick=-1), used
        if offer_count and item in ("earliest", "soonest", "asap"):
            return replace(heard, pick=0), used
        if offer_count == 3 and item == "middle":
            return replace(heard, pick=1), used
        num = num_at(items, k)
        if num is None:
            continue
        if num.ordinal and word_at(items, k + 1) == "thing":  # "first thing tomorrow": early, no pick
            continue
        by_number = word_at(items, k - 1) in ("number", "option") and not num.ordinal
        after_weekday = word_at(items, k - 1) in WEEKDAY_NAMES or (
            word_at(items, k - 1) == "the" and word_at(items, k - 2) in WEEKDAY_NAMES
        )
        if offer_count and (by_number or (num.ordinal and not after_weekday)) and 1 <= num.value <= offer_count:
            used.add(k)
            return replace(heard, pick=num.value - 1), used
        pronoun = word_at(items, k + 1) == _PRONOUN  # "the first one" points at an offer, not a day
        if num.ordinal and not pronoun and 1 <= num.value <= 31 and heard.day_of_month is None and heard.month_day is None:
            heard = replace(heard, day_of_month=num.value)
            used.add(k)
    return heard, used


def _hear_clock(items: Sequence[Item], heard: _Heard, used: set[int]) -> tuple[_Heard, set[int]]:
    """The clock time: "2:30", "3 pm", "at 10", "ten thirty", "nine oh five", "10 o'clock",
    "noon", "half past two", "quarter to ten"; a lone small number counts when nothing else
    could be the time ("10")."""
    used = set(used)
    for k, item in enumerate(items):
        if k in used:
            continue
        if item in ("noon", "midday", "lunchtime"):
            return replace(heard, hour=12, minute=0), used | {k}
        if isinstance(item, str) and (clock := CLOCK_TOKEN.fullmatch(item)) is not None:
            hour, minute = int(clock.group(1)), int(clock.group(2))
            if hour <= 23 and minute <= 59:
                return replace(heard, hour=hour, minute=minute, meridiem=_meridiem(items, k + 1)), used | {k}
        if item in ("half", "quarter") and word_at(items, k + 1) in ("past", "after", "to", "before"):
            num = num_at(items, k + 2)
            if num is not None and not num.ordinal and 1 <= num.value <= 12:
                minutes = 30 if item == "half" else 15
                if word_at(items, k + 1) in ("to", "before"):
                    hour, minute = (num.value - 1) or 12, 60 - minutes
                else:
                    hour, minute = num.value, minutes
                return replace(heard, hour=hour, minute=minute, meridiem=_meridiem(items, k + 3)), used | {k + 2}
        num = num_at(items, k)
        if num is None or num.ordinal or not 0 <= num.value <= 23:
            continue
        minute_num = num_at(items, k + 1)
        minute = minute_num.value if minute_num is not None and k + 1 not in used and _is_minute(minute_num) else None
        cue = word_at(items, k - 1) in _HOUR_CUES_BEFORE or word_at(items, k + 1) in _HOUR_CUES_AFTER or minute is not None
        if cue:
            after = k + 2 if minute is not None else k + 1
            return replace(heard, hour=num.value, minute=minute, meridiem=_meridiem(items, after)), used | {k}
    lone = [item for k, item in enumerate(items) if k not in used and isinstance(item, Num) and not item.ordinal]
    if len(lone) == 1 and 1 <= lone[0].value <= 12:
        return replace(heard, hour=lone[0].value), used
    return heard, used


def _is_minute(num: Num) -> bool:
    """Minutes after an hour: "30", "thirty", "oh five"/"05" (a plain "5" would be a new number)."""
    return not num.ordinal and 0 <= num.value <= 59 and (len(num.digits) == 2)


def _meridiem(items: Sequence[Item], i: int) -> str | None:
    word = word_at(items, i)
    return word if word in ("am", "pm") else None


def _resolved_hour(heard: _Heard) -> int | None:
    """The 24-hour clock hour meant: "3 pm" 15, "at 3" 15 (1-6 are afternoon in clinic hours),
    "at 10" 10, "7 in the evening" 19, "12 am" 0."""
    hour = heard.hour
    if hour is None:
        return None
    if heard.meridiem == "pm":
        return hour + 12 if hour < 12 else hour
    if heard.meridiem == "am":
        return 0 if hour == 12 else hour
    if hour >= 12 or hour == 0:
        return hour
    if heard.part in ("afternoon", "evening"):
        return hour + 12
    if heard.part == "morning":
        return hour
    return hour + 12 if hour <= 6 else hour


def _offer_heard(heard: _Heard, offers: Sequence[datetime], now: datetime) -> datetime | None:
    """The one offer the caller's words fit, or None when they fit none or several."""
    if heard.pick is not None:
        return offers[heard.pick] if -len(offers) <= heard.pick < len(offers) else None
    candidates = [offer for offer in offers if _offer_fits_day(offer, heard, now)]
    if heard.part is not None:
        candidates = [offer for offer in candidates if _part_of_day(offer) == heard.part]
    hour = _resolved_hour(heard)
    if hour is not None:
        candidates = _offers_at(candidates, hour, heard)
    elif not heard.names_a_day and heard.part is None:
        return None
    return candidates[0] if len(candidates) == 1 else None


def _offer_fits_day(offer: datetime, heard: _Heard, now: datetime) -> bool:
    if heard.month_day is not None and (offer.month, offer.day) != heard.month_day:
        return False
    if heard.day_of_month is not None and offer.day != heard.day_of_month:
        return False
    if heard.day_offset is not None and offer.date() != now.date() + timedelta(days=heard.day_offset):
        return False
    if heard.weekday is not None and offer.weekday() != heard.weekday:
        return False
    return True


def _offers_at(offers: Sequence[datetime], hour: int, heard: _Heard) -> list[datetime]:
    """Offers at the time said: exactly, else (no minutes said) within that hour; when neither
    and no am/pm was said, the same on the other half of the day."""
    hours = [hour]
    if heard.meridiem is None and heard.part is None and heard.hour is not None and 1 <= heard.hour <= 11:
        hours.append(hour - 12 if hour > 12 else hour + 12)
    for candidate_hour in hours:
        exact = [o for o in offers if (o.hour, o.minute) == (candidate_hour, heard.minute or 0)]
        if exact:
            return exact
        if heard.minute is None:
            within = [o for o in offers if o.hour == candidate_hour]
            if within:
                return within
    return []


def _part_of_day(when: datetime) -> str:
    if when.hour < 12:
        return "morning"
    return "afternoon" if when.hour < 17 else "evening"


def _requested_time(heard: _Heard, now: datetime) -> datetime | None:
    """The time the caller asked for, resolved into the future (module docstring)."""
    hour = _resolved_hour(heard)
    clock = time(hour, heard.minute or 0) if hour is not None and hour <= 23 else None
    day_known = heard.names_a_day
    if not day_known and clock is None and heard.part is None:
        return None
    day = _requested_day(heard, now.date()) if day_known else now.date()
    if day is None:
        return None
    if clock is not None:
        when = datetime.combine(day, clock)
        if when <= now and not day_known:
            when += timedelta(days=1)
        return when if when > now else None
    when = datetime.combine(day, PART_DEFAULTS.get(heard.part or "", NO_TIME_DEFAULT))
    if when > now:
        return when
    later = _later_today(now, heard.part)
    if later is not None or day_known:
        return later
    return when + timedelta(days=1)


def _requested_day(heard: _Heard, today: date) -> date | None:
    """The calendar day named, on or after today: a month and day (this year, else next), a day
    of the month, today/tomorrow, a weekday (its next occurrence after today), next week."""
    if heard.month_day is not None:
        month, day = heard.month_day
        years = [heard.year] if heard.year is not None else [today.year, today.year + 1, today.year + 4]
        for year in years:
            found = real_date(year, month, day)
            if found is not None and found >= today:
                return found
        return None
    if heard.day_of_month is not None:
        for ahead in range(13):
            month_index = today.month - 1 + ahead
            found = real_date(today.year + month_index // 12, month_index % 12 + 1, heard.day_of_month)
            if found is not None and found >= today:
                return found
        return None
    if heard.day_offset is not None:
        return today + timedelta(days=heard.day_offset)
    if heard.next_week:
        monday = today + timedelta(days=7 - today.weekday())
        return monday + timedelta(days=heard.weekday or 0)
    if heard.weekday is not None:
        return today + timedelta(days=(heard.weekday - today.weekday()) % 7 or 7)
    return None


def _later_today(now: datetime, part: str | None) -> datetime | None:
    """The next full hour today, if it is still within ``part`` (or clinic-ish hours, 18:00,
    when no part was said)."""
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    end = PART_ENDS.get(part or "", time(18, 0))
    if next_hour.date() != now.date() or next_hour.time() >= end:
        return None
    return next_hour
