"""Words and spoken numbers, shared by every reader that needs a number.

Whisper writes numbers mostly as digits but sometimes as words ("twenty third", "nineteen eighty
five", "oh two"). A transcript becomes lowercase tokens (words, digit runs, "2:30" clock times,
"3/3/85" numeric dates), then runs of number words become :class:`Num` items. Each slot kind reads
the items its own way: a phone number joins the digits, a year reads "nineteen eighty five" as
1985, a clock reads "ten thirty" as 10:30. So the shared parser keeps small chunks (0-99, or with
hundred/thousand) and the digits as said, and leaves the joining to the reader."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(
    r"(?<![0-9])[0-9]{4}[/.-][0-9]{1,2}[/.-][0-9]{1,2}(?![0-9])"  # ISO-ish date 1985-03-03
    r"|(?<![0-9])[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}(?![0-9])"  # US date 03/03/1985, 3-3-85
    r"|(?<![0-9])[0-9]{1,2}[:.][0-9]{2}(?![0-9])"  # clock 2:30, 2.30
    r"|[0-9]+(?:st|nd|rd|th)?"  # 1985, 3rd
    r"|[a-z]+(?:'[a-z]+)*(?:-[a-z]+)*"  # words: don't, o'clock, uh-huh, twenty-three
)
CLOCK_TOKEN = re.compile(r"([0-9]{1,2})[:.]([0-9]{2})")
US_DATE_TOKEN = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2,4})")
ISO_DATE_TOKEN = re.compile(r"([0-9]{4})[/.-]([0-9]{1,2})[/.-]([0-9]{1,2})")
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


def word_at(items: Sequence[Item], i: int) -> str:
    """The word at ``i``, or "" (a number, or out of range: never wraps around)."""
    if 0 <= i < len(items):
        item = items[i]
        return item if isinstance(item, str) else ""
    return ""


def num_at(items: Sequence[Item], i: int) -> Num | None:
    if 0 <= i < len(items):
        item = items[i]
        return item if isinstance(item, Num) else None
    return None


def digit_string(items: Sequence[Item]) -> str:
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
