"""Slot values from what a caller said on the phone (or keyed on the keypad).

Input is a faster-whisper ``tiny.en`` transcript: mixed case and punctuation, numbers mostly as
digits but sometimes as words ("twenty third", "nineteen eighty five", "oh two"), filler ("um",
"yeah so"). Keypad (DTMF) digits arrive separately and win over the words when they make a value.

:func:`extract` gives a :class:`SlotValue`: a normalised ``value`` (what webhooks and conditions
see) and ``spoken`` (how the agent reads it back to confirm). ``None`` means "didn't get it": the
navigator asks again, so every reader here prefers None over a guess it cannot stand behind.

Each :class:`~graph.schema.SlotKind` has its own module (:mod:`.name`, :mod:`.birth_date`,
:mod:`.when`, :mod:`.phone`, :mod:`.digits`, :mod:`.yes_no`, :mod:`.text`), whose docstring has
its rules and tests/graph/slots/test_<module>.py pins them; they share the number parser
(:mod:`.numbers`), month and year phrases (:mod:`.dates`) and filler words (:mod:`.fillers`).
:data:`EXTRACTORS` maps each kind to its reader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

from graph.schema import SlotKind
from graph.slots.birth_date import MAX_AGE_YEARS, extract_date_of_birth
from graph.slots.digits import extract_digits
from graph.slots.fillers import strip_leading_filler
from graph.slots.name import extract_name
from graph.slots.numbers import Num, read_numbers, tokens, words_to_number
from graph.slots.phone import extract_phone
from graph.slots.text import extract_text
from graph.slots.value import Extractor, Said, SlotValue
from graph.slots.when import NO_TIME_DEFAULT, PART_DEFAULTS, extract_datetime
from graph.slots.yes_no import extract_yes_no

EXTRACTORS: Mapping[SlotKind, Extractor] = MappingProxyType(
    {
        SlotKind.NAME: extract_name,
        SlotKind.DATE_OF_BIRTH: extract_date_of_birth,
        SlotKind.DATETIME: extract_datetime,
        SlotKind.PHONE: extract_phone,
        SlotKind.DIGITS: extract_digits,
        SlotKind.YES_NO: extract_yes_no,
        SlotKind.TEXT: extract_text,
    }
)
"""The reader for each slot kind; tests/graph/slots/test_extract.py checks it covers them all."""


def extract(
    kind: SlotKind | str,
    text: str,
    *,
    dtmf: str = "",
    now: datetime,
    offers: Sequence[datetime] = (),
) -> SlotValue | None:
    """The value of a ``kind`` slot in what the caller said (``text``) or keyed (``dtmf``), or
    None when there is none to be sure of. ``now`` anchors relative dates ("tomorrow") and the
    past/future checks; ``offers`` are the appointment times just read out (datetime only)."""
    keys = "".join(ch for ch in (dtmf or "") if ch in "0123456789")
    return EXTRACTORS[SlotKind(kind)](Said(text or "", now, keys=keys, offers=offers))


def keys_complete(kind: SlotKind | str, keys: str) -> bool:
    """Whether the digits keyed so far already make a whole ``kind`` value, so the caller need
    not wait out the keypad pause: one key for yes/no (1 or 2), eight for a date of birth
    (MMDDYYYY), ten for a phone number (eleven when it starts with 1). Kinds of open length
    (digit strings) wait for the pause or ``#``."""
    kind = SlotKind(kind)
    if kind is SlotKind.YES_NO:
        return len(keys) >= 1
    if kind is SlotKind.DATE_OF_BIRTH:
        return len(keys) >= 8
    if kind is SlotKind.PHONE:
        return len(keys) >= 11 or (len(keys) == 10 and not keys.startswith("1"))
    return False


__all__ = [
    "EXTRACTORS",
    "MAX_AGE_YEARS",
    "NO_TIME_DEFAULT",
    "PART_DEFAULTS",
    "Extractor",
    "Num",
    "Said",
    "SlotValue",
    "extract",
    "extract_date_of_birth",
    "extract_datetime",
    "extract_digits",
    "extract_name",
    "extract_phone",
    "extract_text",
    "extract_yes_no",
    "keys_complete",
    "read_numbers",
    "strip_leading_filler",
    "tokens",
    "words_to_number",
]
