"""Slot values from what a caller said on the phone (or keyed on the keypad).

Input is a faster-whisper ``tiny.en`` transcript: mixed case and punctuation, numbers mostly as
digits but sometimes as words ("twenty third", "nineteen eighty five", "oh two"), filler ("um",
"yeah so"). Keypad (DTMF) digits arrive separately and win over the words when they make a value.

:func:`extract` gives a :class:`SlotValue`: a normalised ``value`` (what webhooks and conditions
see) and ``spoken`` (how the agent reads it back to confirm). ``None`` means "didn't get it": the
navigator asks again, so every reader here prefers None over a guess it cannot stand behind.

Rules worth knowing (tests/graph/test_slots.py pins each one):

* **Dates of birth** are read in US order (MM/DD/YYYY, keypad MMDDYYYY). Two-digit years are
  19xx or 20xx, whichever puts the date in the past. The date must be real, before today, and
  at most 120 years ago.
* **Appointment times** (``datetime``) are always after ``now``. With ``offers`` (the times just
  read out), the caller's words first pick one: an ordinal ("the second one", "the last one",
  keypad 2), or a weekday / date / time / part of day that fits exactly one offer ("the Thursday
  one", "the 10 o'clock"). When nothing identifies exactly one offer, the value is the time the
  caller asked for, and the navigator offers the nearest free slots to it
  (:meth:`graph.schedule.Schedule.offers` with ``prefer``). A requested time with no clock time
  defaults to 09:00 for morning, 14:00 for afternoon, 17:00 for evening, and 09:00 otherwise;
  when that default has passed today, it becomes the next full hour if that is still in the same
  part of the day. A bare hour is read as clinic hours do: 1 to 6 are PM, 7 to 11 are AM ("at 3"
  is 15:00, "at 10" is 10:00) unless "am"/"pm" or a part of the day says otherwise. A weekday
  means its next occurrence after today; "next Tuesday" means the same ("Tuesday" said on a
  Tuesday is a week away), while "next week" means the week starting next Monday. A time with no
  day is today if still ahead, else tomorrow; a named day or time that has passed ("today at 9"
  at 10:15) is None.
* **Phone numbers** are US: 10 digits, or 11 starting with 1 (the 1 is dropped).
* **Yes/no**: any negation wins ("yes, no, that's not right" is no); uncertainty ("I'm not
  sure") is None; keypad 1 is yes, 2 is no.

All datetimes are naive clinic-local time (see :mod:`graph.schedule`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from graph.schedule import spoken_date, spoken_datetime
from graph.schema import SlotKind


@dataclass(frozen=True, slots=True)
class SlotValue:
    """A slot's value: ``value`` is normalised (name "Maria Lopez", date_of_birth "1985-03-03",
    datetime "2026-12-02T09:30", phone "5551234567", digits "12345", yes_no "yes"/"no", text the
    cleaned words); ``spoken`` is how the agent reads it back ("March 3rd, 1985",
    "Wednesday, December 2nd at 9:30 AM", "5 5 5, 1 2 3, 4 5 6 7", "yes")."""

    value: str
    spoken: str


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
    text = text or ""
    keys = "".join(ch for ch in (dtmf or "") if ch in "0123456789")
    match SlotKind(kind):
        case SlotKind.NAME:
            return extract_name(text)
        case SlotKind.DATE_OF_BIRTH:
            return extract_date_of_birth(text, keys, now)
        case SlotKind.DATETIME:
            return extract_datetime(text, keys, now, offers)
        case SlotKind.PHONE:
            return extract_phone(text, keys)
        case SlotKind.DIGITS:
            return extract_digits(text, keys)
        case SlotKind.YES_NO:
            return extract_yes_no(text, keys)
        case SlotKind.TEXT:
            return extract_text(text)
    return None  # pragma: no cover - SlotKind() rejects anything else


# === Words and spoken numbers ==================================================================
# A transcript becomes lowercase tokens (words, digit runs, "2:30" clock times, "3/3/85" numeric
# dates), then runs of number words become Num items. Each slot kind reads the items its own way:
# a phone number joins the digits, a year reads "nineteen eighty five" as 1985, a clock reads
# "ten thirty" as 10:30. So the shared parser keeps small chunks (0-99, or with hundred/thousand)
# and the digits as said, and leaves the joining to the reader.

_TOKEN = re.compile(
    r"(?<![0-9])[0-9]{4}[/.-][0-9]{1,2}[/.-][0-9]{1,2}(?![0-9])"  # ISO-ish date 1985-03-03
    r"|(?<![0-9])[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}(?![0-9])"  # US date 03/03/1985, 3-3-85
    r"|(?<![0-9])[0-9]{1,2}[:.][0-9]{2}(?![0-9])"  # clock 2:30, 2.30
    r"|[0-9]+(?:st|nd|rd|th)?"  # 1985, 3rd
    r"|[a-z]+(?:'[a-z]+)*(?:-[a-z]+)*"  # words: don't, o'clock, uh-huh, twenty-three
)
_CLOCK_TOKEN = re.compile(r"([0-9]{1,2})[:.]([0-9]{2})")
_US_DATE_TOKEN = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2,4})")
_ISO_DATE_TOKEN = re.compile(r"([0-9]{4})[/.-]([0-9]{1,2})[/.-]([0-9]{1,2})")
_DIGITS_TOKEN = re.compile(r"([0-9]+)(st|nd|rd|th)?")
_MERIDIEM = re.compile(r"\b([ap])\.\s?m\b\.?")

UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
ZEROS = frozenset({"zero", "oh", "o", "nought"})
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
ORDINAL_UNITS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
}  # fmt: skip
ORDINAL_OTHERS = {
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
    "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60, "seventieth": 70,
    "eightieth": 80, "ninetieth": 90,
}  # fmt: skip
NUMBER_WORDS = frozenset(
    {*UNITS, *ZEROS, *TEENS, *TENS, *ORDINAL_UNITS, *ORDINAL_OTHERS, "hundred", "thousand"}
)
_MAX_DIGITS = 18
"""Longer digit runs keep their digits but get no numeric value (int() of thousands of digits
is slow and, past 4300, refused)."""


@dataclass(frozen=True, slots=True)
class Num:
    """One number as said: ``value`` (-1 when too long to matter), ``digits`` as said ("02" for
    "oh two", "1985" for "1985"), whether it was an ordinal ("3rd", "third"), and whether it was
    spelled out in words."""

    value: int
    digits: str
    ordinal: bool = False
    spelled: bool = False


Item = str | Num
"""A word (lowercase), a clock/date token ("2:30", "3/3/85"), or a number."""


def tokens(text: str) -> list[str]:
    """Lowercase tokens of a transcript; punctuation goes, "p.m." becomes "pm", and hyphenated
    number words ("twenty-three") are split so the number parser sees each word."""
    lowered = _MERIDIEM.sub(r"\1m", text.lower().replace("’", "'").replace("‘", "'"))
    out: list[str] = []
    for token in _TOKEN.findall(lowered):
        parts = token.split("-")
        if len(parts) > 1 and all(p in NUMBER_WORDS for p in parts):
            out.extend(parts)
        else:
            out.append(token)
    return out


def read_numbers(words: Sequence[str]) -> list[Item]:
    """Tokens with number words and digit runs turned into :class:`Num` items, e.g.
    ``march third nineteen eighty five`` -> ``['march', 3rd, 19, 85]`` and
    ``five five five oh one`` -> ``[5, 5, 5, 01]``. "oh" is a number only next to another one
    ("oh, it's Maria" keeps its "oh")."""
    items: list[Item] = []
    i = 0
    while i < len(words):
        word = words[i]
        digit_match = _DIGITS_TOKEN.fullmatch(word)
        if digit_match:
            items.append(_digit_num(digit_match.group(1), ordinal=bool(digit_match.group(2))))
            i += 1
            continue
        after_number = bool(items) and isinstance(items[-1], Num)
        parsed = _spoken_number(words, i, after_number=after_number)
        if parsed is None:
            items.append(word)
            i += 1
        else:
            num, i = parsed
            items.append(num)
    return items


def words_to_number(text: str) -> int | None:
    """A whole phrase read as one number: "twenty three" -> 23, "nineteen eighty five" -> 1985,
    "two thousand and one" -> 2001, "oh two" -> 2, "thirty first" -> 31, "1985" -> 1985.
    None when the phrase holds anything but number words (and "and")."""
    items = [item for item in read_numbers(tokens(text)) if item != "and"]
    if not items or not all(isinstance(item, Num) for item in items):
        return None
    nums = [item for item in items if isinstance(item, Num)]
    if len(nums) == 1:
        return nums[0].value if nums[0].value >= 0 else None
    digits = "".join(n.digits for n in nums)
    return int(digits) if len(digits) <= _MAX_DIGITS else None


def _digit_num(digits: str, *, ordinal: bool = False) -> Num:
    value = int(digits) if len(digits) <= _MAX_DIGITS else -1
    return Num(value, digits, ordinal=ordinal)


def _spoken_number(words: Sequence[str], i: int, *, after_number: bool) -> tuple[Num, int] | None:
    """The number spelled out at ``words[i]``, and the index after it; None if there is none.

    "oh"/"zero" plus a unit is one item with a leading zero ("oh five" -> 05), which is what
    minutes ("nine oh five"), years ("nineteen oh two") and digit strings all want."""
    word = words[i]
    following = words[i + 1] if i + 1 < len(words) else ""
    if word in ZEROS:
        if following in UNITS:
            return Num(UNITS[following], f"0{UNITS[following]}", spelled=True), i + 2
        if word == "zero" or after_number or following in NUMBER_WORDS or following[:1].isdigit():
            return Num(0, "0", spelled=True), i + 1
        return None
    small = _below_hundred(words, i)
    if small is None:
        return None
    value, ordinal, j = small
    if not ordinal and j < len(words) and words[j] == "hundred" and value >= 1:
        value, ordinal, j = _scaled(words, j, value * 100, allow_hundreds=False)
    if not ordinal and j < len(words) and words[j] == "thousand" and value >= 1:
        value, ordinal, j = _scaled(words, j, value * 1000, allow_hundreds=True)
    return Num(value, str(value), ordinal=ordinal, spelled=True), j


def _below_hundred(words: Sequence[str], i: int) -> tuple[int, bool, int] | None:
    """(value, is ordinal, next index) for 1-99 at ``words[i]``: "twenty three", "twenty third",
    "nineteen", "ninth". Tens take a following unit ("twenty three" is 23), never a teen or a
    ten ("twenty twenty" stays two numbers, as a year wants)."""
    word = words[i]
    following = words[i + 1] if i + 1 < len(words) else ""
    if word in TENS:
        if following in UNITS:
            return TENS[word] + UNITS[following], False, i + 2
        if following in ORDINAL_UNITS:
            return TENS[word] + ORDINAL_UNITS[following], True, i + 2
        return TENS[word], False, i + 1
    if word in UNITS:
        return UNITS[word], False, i + 1
    if word in TEENS:
        return TEENS[word], False, i + 1
    if word in ORDINAL_UNITS:
        return ORDINAL_UNITS[word], True, i + 1
    if word in ORDINAL_OTHERS:
        return ORDINAL_OTHERS[word], True, i + 1
    return None


def _scaled(words: Sequence[str], j: int, value: int, *, allow_hundreds: bool) -> tuple[int, bool, int]:
    """After "hundred"/"thousand" at ``words[j]``: an optional "and" and the rest
    ("two thousand and one", "nineteen hundred eighty five", "two thousand three hundred").

    A bare unit followed by more digits is not absorbed: "eight hundred five five five" is a
    phone number's 800 then 555, not 805, 5, 5."""
    k = j + 1
    joined = k < len(words) and words[k] == "and"
    if joined:
        k += 1
    rest = _below_hundred(words, k) if k < len(words) else None
    if rest is None:
        return value, False, j + 1
    after_rest = words[rest[2]] if rest[2] < len(words) else ""
    if not joined and words[k] in UNITS and (after_rest in UNITS or after_rest in ZEROS):
        return value, False, j + 1
    extra, ordinal, end = rest
    if allow_hundreds and not ordinal and end < len(words) and words[end] == "hundred":
        extra, ordinal, end = _scaled(words, end, extra * 100, allow_hundreds=False)
    return value + extra, ordinal, end


def _word(items: Sequence[Item], i: int) -> str:
    """The word at ``i``, or "" (a number, or out of range: never wraps around)."""
    if 0 <= i < len(items):
        item = items[i]
        return item if isinstance(item, str) else ""
    return ""


def _num(items: Sequence[Item], i: int) -> Num | None:
    if 0 <= i < len(items):
        item = items[i]
        return item if isinstance(item, Num) else None
    return None


def _digit_string(items: Sequence[Item]) -> str:
    """Every digit said, in order: "five five five, 12 34" -> "5551234"; "double five" -> "55"."""
    out: list[str] = []
    repeat = 1
    for item in items:
        if isinstance(item, Num):
            out.append(item.digits * repeat if len(item.digits) == 1 else item.digits)
            repeat = 1
        elif item in ("double", "triple"):
            repeat = 2 if item == "double" else 3
        else:
            out.append("".join(ch for ch in item if ch in "0123456789"))
    return "".join(out)


def _spaced_digits(digits: str) -> str:
    """Digits one by one for the voice, in threes from the left when long: "1 2 3, 4 5"."""
    if len(digits) <= 4:
        return " ".join(digits)
    return ", ".join(" ".join(digits[k : k + 3]) for k in range(0, len(digits), 3))


# === Leading filler ============================================================================

HARD_FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "ahh", "hmm", "hm", "mm", "mmm", "eh"})
"""Never content."""
SOFT_FILLERS = frozenset(
    {"yeah", "yes", "yep", "so", "well", "okay", "ok", "oh", "right", "alright", "hi", "hello", "hey", "sure"}
)
"""Filler at the start of a longer answer ("yeah so my ..."), content when they are all of it."""
_LEADING_WORD = re.compile(r"[\W_]*?([^\W_]+(?:['’-][^\W_]+)*)[\s,.;:!?…-]*")


def strip_leading_filler(text: str) -> str:
    """``text`` without the hesitation and chit-chat it starts with: "Um, yeah so I need a refill."
    -> "I need a refill." Soft fillers stay when nothing follows them ("Yeah.")."""
    rest = text.strip()
    while True:
        match = _LEADING_WORD.match(rest)
        if match is None:
            return rest
        word = match.group(1).casefold()
        remainder = rest[match.end() :]
        has_more = any(ch.isalnum() for ch in remainder)
        if word in HARD_FILLERS or (word in SOFT_FILLERS and has_more):
            rest = remainder.strip()
        else:
            return rest


# === text ======================================================================================


def extract_text(text: str) -> SlotValue | None:
    """The caller's words without leading filler; None when nothing is left."""
    cleaned = strip_leading_filler(text)
    cleaned = cleaned.lstrip(" ,.;:!?…-").strip()
    if not any(ch.isalnum() for ch in cleaned):
        return None
    return SlotValue(cleaned, cleaned)


# === name ======================================================================================

_NAME_TOKEN = re.compile(r"(?P<word>[^\W\d_]+(?:['’-][^\W\d_]+)*)|(?P<digit>\d+)|(?P<stop>[.,;:!?…()\"“”–—/]|(?<=\s)-(?=\s))")
TITLES = frozenset(
    {"dr", "doctor", "mr", "mister", "mrs", "missus", "ms", "miss", "mx", "prof", "professor", "rev", "reverend", "sir"}
)
_STRONG_INTROS = (("name", "is"), ("name's",), ("names",), ("name", "was"), ("call", "me"))
"""Found anywhere: "yeah hi, my name is ...", "the patient's name is ...", "you can call me ..."."""
_WEAK_INTROS = (("it's",), ("it", "is"), ("its",), ("this", "is"), ("i'm",), ("i", "am"), ("im",))
"""Only at the start: elsewhere "it's" starts anything."""
_SURNAME_INTROS = (("last", "name", "is"), ("surname", "is"), ("family", "name", "is"), ("last", "name's"))
_NAME_TRAILERS = frozenset({"speaking", "here", "calling", "please", "thanks", "thank"})
_PARTICLES = frozenset({"de", "del", "della", "der", "den", "la", "le", "van", "von", "da", "di", "du", "dos", "das", "ter"})
NOT_NAME_WORDS = frozenset(
    """
    i me my mine myself you your yours he she him her his it its it's we us our they them their
    this that these those who what when where why how which whose whom there here
    a an the to of in on at for with about from by as into onto over under after before than then
    and or but if because so not no nope yes yeah yep yup nah ok okay sure fine alright right
    am is are was were be been being do does did don't doesn't didn't done have has had having
    can can't cannot could couldn't would wouldn't should shouldn't shall must might won't
    i'm i'd i'll i've you're you'll we're they're that's what's there's isn't aren't wasn't
    want wanted wanna need needs needed like liked would love make made book booking booked
    call calling called speak speaking talk talking know knew think thought get got getting see
    help hold wait cancel change move reschedule schedule refill repeat say said tell ask
    hear heard understand mean sorry pardon please thanks thank hello hi hey bye goodbye
    appointment appointments prescription prescriptions medication medicine refill results
    result test tests nurse clinic office doctor's billing insurance pain emergency
    name number phone birth date time day week month year today tomorrow yesterday morning
    afternoon evening night monday tuesday wednesday thursday friday saturday sunday
    just actually really very also still again now already only even maybe probably perhaps
    anything something nothing everything someone somebody anyone anybody everyone nobody
    all any some none each every other another more most much many few lot lots
    um umm uh uhh er erm ah hmm mm oh well
    one two three four five six seven eight nine ten zero
    good bad great nice feel feeling sick ill hurt hurts bad worse better
    """.split()
)
"""Words that make a phrase "clearly not a name". Common given names that are also words (Will,
May, June, Grace, Hope, Mark, Bill, Rose, Frank) are deliberately absent."""


def extract_name(text: str) -> SlotValue | None:
    """A person's name, title-cased, 1-4 words: "My name is maria lopez" -> "Maria Lopez",
    "this is Dr. Jane Foster" -> "Jane Foster", "um yeah it's Anne-Marie O'Brien". None for
    sentences that are about something else ("I want to book an appointment", "I don't know")."""
    words = _name_words(text)
    start = _skip(words, 0, HARD_FILLERS | SOFT_FILLERS)
    lowered = [w.casefold() if w is not None else None for w in words]
    intro_end = _find_phrase(lowered, _STRONG_INTROS, start, anywhere=True)
    if intro_end is None:
        intro_end = _find_phrase(lowered, _WEAK_INTROS, start, anywhere=False)
    if intro_end is not None:
        run, end = _name_run(words, intro_end)
        run = _repeated_longer(words, end, run)
        surname_at = _find_phrase(lowered, _SURNAME_INTROS, intro_end, anywhere=True)
        if len(run) == 1 and surname_at is not None:
            run = run + _name_run(words, surname_at)[0]
    else:
        run, end = _name_run(words, start)
        if end < len(words) and words[end] is not None and lowered[end] not in _NAME_TRAILERS:
            return None  # the words run on into a sentence: "Maria wants to book"
    if not 1 <= len(run) <= 4 or not any(len(w) > 1 for w in run):
        return None
    name = " ".join(_title_case(word, first=k == 0) for k, word in enumerate(run))
    return SlotValue(name, name)


def _repeated_longer(words: Sequence[str | None], end: int, run: list[str]) -> list[str]:
    """Callers often say the first name, then the whole name: "It's Maria, Maria Lopez". When
    the next clause repeats ``run`` and goes on, that longer name is the one meant."""
    if not run or end >= len(words) or words[end] is not None:
        return run
    again, _ = _name_run(words, _skip(words, end, frozenset()))
    folded = [w.casefold() for w in again]
    if len(again) > len(run) and folded[: len(run)] == [w.casefold() for w in run]:
        return again
    return run


def _name_words(text: str) -> list[str | None]:
    """Words of ``text`` in their original case, None where a clause breaks (punctuation). A
    full stop after a title or an initial ("Dr.", "A.") is not a break."""
    out: list[str | None] = []
    for match in _NAME_TOKEN.finditer(text.replace("’", "'")):
        if match.group("stop") is not None:
            previous = out[-1] if out else None
            if match.group("stop") == "." and previous is not None and (
                previous.casefold() in TITLES or len(previous) == 1
            ):
                continue
            out.append(None)
        else:
            out.append(match.group(0))
    return out


def _skip(words: Sequence[str | None], i: int, skippable: frozenset[str]) -> int:
    """Index of the first word from ``i`` that is neither a clause break nor in ``skippable``."""
    while i < len(words):
        word = words[i]
        if word is not None and word.casefold() not in skippable:
            return i
        i += 1
    return i


def _find_phrase(
    lowered: Sequence[str | None], phrases: Sequence[tuple[str, ...]], start: int, *, anywhere: bool
) -> int | None:
    """The index just after the first of ``phrases`` found at ``start`` (or, ``anywhere``, after
    it); None if none is there."""
    positions = range(start, len(lowered)) if anywhere else range(start, start + 1)
    for i in positions:
        for phrase in phrases:
            if tuple(lowered[i : i + len(phrase)]) == phrase:
                return i + len(phrase)
    return None


def _name_run(words: Sequence[str | None], i: int) -> tuple[list[str], int]:
    """The name-like words from ``i`` (after filler and titles) up to the first break or word
    that is not a name, and the index where it stopped."""
    i = _skip(words, i, HARD_FILLERS | TITLES)
    run: list[str] = []
    while i < len(words):
        word = words[i]
        if word is None or not _name_like(word):
            break
        run.append(word)
        i += 1
    return run, i


def _name_like(word: str) -> bool:
    """A word that can be part of a name: letters (with inner ' or -), not a common word, a single
    letter only as a capital initial, and not spelled out letter by letter ("L-O-P-E-Z")."""
    if len(word) == 1:
        return word.isupper() and word != "I"
    if word.casefold() in NOT_NAME_WORDS or not all(ch.isalpha() or ch in "'-" for ch in word):
        return False
    parts = [p for p in word.replace("'", "-").split("-") if p]
    return not (len(parts) > 1 and all(len(p) == 1 for p in parts))


def _title_case(word: str, *, first: bool) -> str:
    """"o'brien" -> "O'Brien", "anne-marie" -> "Anne-Marie"; mixed case ("McDonald") is kept as
    the transcript has it, and particles ("de", "van") stay lowercase inside a name."""
    if not (word.islower() or word.isupper()):
        return word
    if not first and word.islower() and word in _PARTICLES:
        return word
    return "-".join("'".join(part[:1].upper() + part[1:].lower() for part in piece.split("'")) for piece in word.split("-"))


# === date of birth =============================================================================

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
MAX_AGE_YEARS = 120


def extract_date_of_birth(text: str, keys: str, now: datetime) -> SlotValue | None:
    """A real date before today, at most 120 years ago, from "March 3rd 1985", "3rd of March
    1985", "the third of march nineteen eighty five", "03/03/1985", "3-3-85" or keypad MMDDYYYY."""
    today = now.date()
    born = _keyed_birth_date(keys, today) if keys else None
    if born is None:
        born = _spoken_birth_date(read_numbers(tokens(text)), today)
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
    named = _month_and_day(items)
    if named is not None:
        month, day, _, after = named
        year_digits, _ = _year_digits(items, after)
        return _birth_date(year_digits, month, day, today)
    return _numbers_only_birth_date([item for item in items if isinstance(item, Num)], today)


def _numeric_date(token: str) -> tuple[str, int, int] | None:
    """("year digits", month, day) from "03/03/1985", "3-3-85" (US order) or "1985-03-03"."""
    if match := _ISO_DATE_TOKEN.fullmatch(token):
        return match.group(1), int(match.group(2)), int(match.group(3))
    if match := _US_DATE_TOKEN.fullmatch(token):
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
        born = _real_date(year, month, day)
        if born is not None and born < today and _age(born, today) <= MAX_AGE_YEARS:
            return born
    return None


def _real_date(year: int, month: int, day: int) -> date | None:
    """The date, or None for February 30th and friends."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _month_and_day(items: Sequence[Item]) -> tuple[int, int, set[int], int] | None:
    """(month, day, indexes used, index after) for "march 3rd", "march the third", "3rd of
    march", "the 3rd march". A month name with no day next to it is no date ("may I ask")."""
    for k, item in enumerate(items):
        month = MONTHS.get(item) if isinstance(item, str) else None
        if month is None:
            continue
        after = k + 2 if _word(items, k + 1) == "the" else k + 1
        before = k - 2 if _word(items, k - 1) == "of" else k - 1
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
    num = _num(items, i)
    return num if num is not None and 1 <= num.value <= 31 and len(num.digits) <= 2 else None


def _year_digits(items: Sequence[Item], i: int) -> tuple[str, set[int]]:
    """The digits of the year said from ``i`` ("1985", "nineteen eighty five", "'85", "two
    thousand and one"), skipping a joining "in"/"of"/"and"; "" when none is there."""
    while _word(items, i) in ("in", "of", "and", "year", "the"):
        i += 1
    digits: list[str] = []
    used: set[int] = set()
    while (num := _num(items, i)) is not None and not num.ordinal:
        digits.append(num.digits)
        used.add(i)
        i += 1
    return "".join(digits), used


# === appointment time ==========================================================================

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


def extract_datetime(text: str, keys: str, now: datetime, offers: Sequence[datetime]) -> SlotValue | None:
    """One of ``offers`` the caller picked, else the time they asked for (module docstring has
    the rules); always after ``now``."""
    chosen: datetime | None = None
    if offers and len(keys) == 1 and 1 <= int(keys) <= len(offers):
        chosen = offers[int(keys) - 1]
    else:
        heard = _hear(read_numbers(_drop_pronoun_one(tokens(text))), len(offers))
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
    named = _month_and_day(items)
    if named is not None:
        month, day, named_used, after = named
        year_digits, year_used = _year_digits(items, after)
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
        if item == "thing" and (first := _num(items, k - 1)) is not None and first.ordinal and first.value == 1:
            return "morning"
    return None


def _hear_days(items: Sequence[Item], heard: _Heard, used: set[int]) -> tuple[_Heard, set[int]]:
    """Weekdays, "today"/"tomorrow"/"the day after tomorrow", "this afternoon", "next week",
    "in 3 days"."""
    used = set(used)
    for k, item in enumerate(items):
        if not isinstance(item, str):
            continue
        following = _word(items, k + 1)
        if item in WEEKDAY_NAMES and heard.weekday is None:
            heard = replace(heard, weekday=WEEKDAY_NAMES[item])
        elif item == "tomorrow" and heard.day_offset is None:
            after = (_word(items, k - 2), _word(items, k - 1)) == ("day", "after")
            heard = replace(heard, day_offset=2 if after else 1)
        elif item in ("today", "tonight") or (item == "this" and following in _PART_WORDS):
            heard = replace(heard, day_offset=0)
        elif item == "next" and following == "week":
            heard = replace(heard, next_week=True)
        elif item == "in" and following in ("a", "an") and _word(items, k + 2) == "week":
            heard = replace(heard, day_offset=7)
        elif item == "in" and (num := _num(items, k + 1)) is not None and _word(items, k + 2) in (
            "day", "days", "week", "weeks",
        ):  # fmt: skip
            scale = 7 if _word(items, k + 2).startswith("week") else 1
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
        if offer_count and item in ("last", "latest", "final") and _word(items, k + 1) != "week":
            return replace(heard, pick=-1), used
        if offer_count and item in ("earliest", "soonest", "asap"):
            return replace(heard, pick=0), used
        if offer_count == 3 and item == "middle":
            return replace(heard, pick=1), used
        num = _num(items, k)
        if num is None:
            continue
        if num.ordinal and _word(items, k + 1) == "thing":  # "first thing tomorrow": early, no pick
            continue
        by_number = _word(items, k - 1) in ("number", "option") and not num.ordinal
        after_weekday = _word(items, k - 1) in WEEKDAY_NAMES or (
            _word(items, k - 1) == "the" and _word(items, k - 2) in WEEKDAY_NAMES
        )
        if offer_count and (by_number or (num.ordinal and not after_weekday)) and 1 <= num.value <= offer_count:
            used.add(k)
            return replace(heard, pick=num.value - 1), used
        pronoun = _word(items, k + 1) == _PRONOUN  # "the first one" points at an offer, not a day
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
        if isinstance(item, str) and (clock := _CLOCK_TOKEN.fullmatch(item)) is not None:
            hour, minute = int(clock.group(1)), int(clock.group(2))
            if hour <= 23 and minute <= 59:
                return replace(heard, hour=hour, minute=minute, meridiem=_meridiem(items, k + 1)), used | {k}
        if item in ("half", "quarter") and _word(items, k + 1) in ("past", "after", "to", "before"):
            num = _num(items, k + 2)
            if num is not None and not num.ordinal and 1 <= num.value <= 12:
                minutes = 30 if item == "half" else 15
                if _word(items, k + 1) in ("to", "before"):
                    hour, minute = (num.value - 1) or 12, 60 - minutes
                else:
                    hour, minute = num.value, minutes
                return replace(heard, hour=hour, minute=minute, meridiem=_meridiem(items, k + 3)), used | {k + 2}
        num = _num(items, k)
        if num is None or num.ordinal or not 0 <= num.value <= 23:
            continue
        minute_num = _num(items, k + 1)
        minute = minute_num.value if minute_num is not None and k + 1 not in used and _is_minute(minute_num) else None
        cue = _word(items, k - 1) in _HOUR_CUES_BEFORE or _word(items, k + 1) in _HOUR_CUES_AFTER or minute is not None
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
    word = _word(items, i)
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
            found = _real_date(year, month, day)
            if found is not None and found >= today:
                return found
        return None
    if heard.day_of_month is not None:
        for ahead in range(13):
            month_index = today.month - 1 + ahead
            found = _real_date(today.year + month_index // 12, month_index % 12 + 1, heard.day_of_month)
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


# === phone and digits ==========================================================================


def extract_phone(text: str, keys: str) -> SlotValue | None:
    """A US number: 10 digits, or 11 starting with 1 (dropped). "(555) 123-4567", "+1 555 123
    4567", "five five five one two three four five six seven", or keyed."""
    for digits in (keys, _digit_string(read_numbers(tokens(text)))):
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) == 10:
            spoken = f"{' '.join(digits[:3])}, {' '.join(digits[3:6])}, {' '.join(digits[6:])}"
            return SlotValue(digits, spoken)
    return None


def extract_digits(text: str, keys: str) -> SlotValue | None:
    """Every digit said or keyed ("one two three", "12 34", "oh seven" -> "07"); keys win."""
    digits = keys or _digit_string(read_numbers(tokens(text)))
    if not digits:
        return None
    return SlotValue(digits, _spaced_digits(digits))


# === yes / no ==================================================================================

_YES_PHRASES = (
    "that's right", "that is right", "go ahead", "please do", "of course", "sounds good", "i agree",
    "all right", "why not", "no problem", "no worries", "not a problem", "don't mind", "do not mind",
    "sure thing", "you got it", "that works", "works for me", "i think so", "uh-huh", "mm-hmm",
)  # fmt: skip
"""Yes, including some that contain a negation word ("no problem")."""
_YES_WORDS = frozenset(
    {"yes", "yeah", "yep", "yup", "ya", "yah", "yea", "sure", "correct", "right", "okay", "ok", "alright",
     "agree", "absolutely", "definitely", "certainly", "affirmative", "exactly", "perfect", "fine", "great",
     "please", "mhm", "indeed", "yes-please"}
)  # fmt: skip
_NO_PHRASES = ("rather not", "not really", "do not", "uh-uh", "no way")
_NO_WORDS = frozenset(
    {"no", "nope", "nah", "not", "don't", "dont", "never", "stop", "wrong", "incorrect", "negative", "isn't",
     "wasn't", "doesn't", "didn't", "won't", "can't", "cannot", "shouldn't", "wouldn't", "decline", "nay"}
)  # fmt: skip
_UNSURE_PHRASES = (
    "not sure", "don't know", "dont know", "do not know", "no idea", "maybe", "perhaps", "not certain",
    "unsure", "i guess", "hang on", "hold on", "depends",
)  # fmt: skip
_NEUTRAL_PHRASES = ("don't worry", "do not worry")
"""Negation words that do not answer the question."""


def extract_yes_no(text: str, keys: str) -> SlotValue | None:
    """"yes" / "no" / None (unclear). Any negation wins over any agreement ("yes, no, that's not
    right" is no); uncertainty ("I'm not sure") is None; keypad 1 is yes, 2 is no."""
    if keys in ("1", "2"):
        answer = "yes" if keys == "1" else "no"
        return SlotValue(answer, answer)
    padded = f" {' '.join(tokens(text))} "
    if any(f" {phrase} " in padded for phrase in _UNSURE_PHRASES):
        return None
    yes = False
    for phrase in (*_NEUTRAL_PHRASES, *_YES_PHRASES):
        if f" {phrase} " in padded:
            yes = yes or phrase in _YES_PHRASES
            padded = padded.replace(f" {phrase} ", " ")
    words = padded.split()
    no = any(f" {phrase} " in padded for phrase in _NO_PHRASES) or any(w in _NO_WORDS for w in words)
    yes = yes or any(w in _YES_WORDS for w in words)
    if no:
        return SlotValue("no", "no")
    if yes:
        return SlotValue("yes", "yes")
    return None


__all__ = [
    "MAX_AGE_YEARS",
    "NO_TIME_DEFAULT",
    "PART_DEFAULTS",
    "Num",
    "SlotValue",
    "extract",
    "extract_date_of_birth",
    "extract_datetime",
    "extract_digits",
    "extract_name",
    "extract_phone",
    "extract_text",
    "extract_yes_no",
    "read_numbers",
    "strip_leading_filler",
    "tokens",
    "words_to_number",
]
