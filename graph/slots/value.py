"""What every slot extractor is given (:class:`Said`) and gives back (:class:`SlotValue`), in one
place so that each extractor module and the dispatch table in :mod:`graph.slots` share one
signature (:data:`Extractor`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SlotValue:
    """A slot's value: ``value`` is normalised (name "Maria Lopez", date_of_birth "1985-03-03",
    datetime "2026-12-02T09:30", phone "5551234567", digits "12345", yes_no "yes"/"no", text the
    cleaned words); ``spoken`` is how the agent reads it back ("March 3rd, 1985",
    "Wednesday, December 2nd at 9:30 AM", "5 5 5, 1 2 3, 4 5 6 7", "yes")."""

    value: str
    spoken: str


@dataclass(frozen=True, slots=True)
class Said:
    """One answer as an extractor reads it: the transcript ``text`` ("" when none), the keypad
    ``keys`` (digits only; :func:`graph.slots.extract` drops "*" and "#"), ``now`` (anchors
    "tomorrow" and the past/future checks) and ``offers`` (the appointment times just read out).
    Each extractor reads only the fields its kind needs."""

    text: str
    now: datetime
    keys: str = ""
    offers: Sequence[datetime] = ()


Extractor = Callable[[Said], SlotValue | None]
"""A slot kind's reader: the value in what was said, or None when there is none to be sure of."""
