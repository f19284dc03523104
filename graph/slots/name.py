"""A person's name from what the caller said ("my name is maria lopez", "this is Dr. Jane Foster").
Names cannot be keyed, so only the words count, and a sentence about something else ("I want to
book an appointment") is None rather than a guess."""

from __future__ import annotations

import re
from collections.abc import Sequence

from graph.slots.fillers import HARD_FILLERS, SOFT_FILLERS
from graph.slots.value import Said, SlotValue

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


def extract_name(said: Said) -> SlotValue | None:
    """A person's name, title-cased, 1-4 words: "My name is maria lopez" -> "Maria Lopez",
    "this is Dr. Jane Foster" -> "Jane Foster", "um yeah it's Anne-Marie O'Brien". None for
    sentences that are about something else ("I want to book an appointment", "I don't know")."""
    words = _name_words(said.text)
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
