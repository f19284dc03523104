"""What the slot tests share: a fixed ``now``, three offers, a value-only shortcut for
:func:`graph.slots.extract`, and hypothesis strategies for transcripts and times."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

from graph.schema import SlotKind
from graph.slots import extract

NOW = datetime(2026, 12, 1, 10, 15)  # a Tuesday
OFFERS = (datetime(2026, 12, 2, 9, 0), datetime(2026, 12, 2, 9, 20), datetime(2026, 12, 3, 14, 0))


def value(kind: SlotKind, text: str, *, dtmf: str = "", now: datetime = NOW, offers: tuple[datetime, ...] = ()) -> str | None:
    found = extract(kind, text, dtmf=dtmf, now=now, offers=offers)
    return None if found is None else found.value


VOCABULARY = [
    "march", "the", "of", "third", "3rd", "1985", "nineteen", "eighty", "five", "oh", "twenty", "first",
    "tomorrow", "at", "3", "pm", "am", "monday", "next", "week", "one", "o'clock", "2:30", "03/03/1985",
    "3-3-85", "february", "30th", "thirty", "last", "in", "days", "morning", "noon", "half", "past", "quarter",
    "to", "two", "thousand", "and", "hundred", "yes", "no", "not", "my", "name", "is", "it's", "dr.", "-",
    ",", ".", "'", "double", "number", "option", "99:99", "00/00/0000", "9" * 40, "december", "31st",
]  # fmt: skip
phrases = st.lists(st.sampled_from(VOCABULARY), max_size=12).map(" ".join)
any_text = st.one_of(st.text(max_size=80), phrases)
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31))
offer_lists = st.lists(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1)), max_size=4)
