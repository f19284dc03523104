"""The facts in a line that rewording must not lose or invent: times, days, dates and numbers.

The graph decides *what* is said and an LLM only *how* (graph/prompt.py asks it to keep the
line's facts and add none), but a model may drop "at 10:30" from a booking read-back, or turn
"a clinician will call you back today" into "How about tomorrow?". These are the words a caller
acts on, so they are checked, not trusted: agent/services/llm.py cuts a reworded sentence that
brings a fact the line and the conversation do not have, and says the line's own sentences for
any fact the reworded reply left out.

A fact is matched on a normal form: lower case, "10:30 a.m." -> "10:30am", "10 AM" -> "10am",
"3rd" -> "3", so that a reworded "10:30 am" keeps "10:30 AM". Words for numbers ("ten thirty")
are not read: a reply that spells a time out is taken as having dropped it, and the line's own
sentence is said as well -- a repetition, never a loss."""

from __future__ import annotations

import re

_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m\b\.?|\b(\d{1,2}):(\d{2})\b", re.I)
_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.I)
_NUMBER = re.compile(r"\b\d+\b")
_WORDS = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july"
    r"|august|september|october|november|december|today|tonight|tomorrow|yesterday|noon|midnight)\b",
    re.I,
)
"""Days, months and the relative days a caller acts on. "May" the verb is a month here too: it
only matters when a reply brings it and the line does not, which then costs natural wording
(the scripted line is said), never a wrong fact."""


def facts(text: str) -> frozenset[str]:
    """The times, days, dates and numbers in ``text``, in their normal form."""
    found: set[str] = set()

    def time(match: re.Match[str]) -> str:
        hour, minute, half, hour24, minute24 = match.groups()
        if half:
            found.add(f"{int(hour)}{':' + minute if minute else ''}{half.lower()}m")
        else:
            found.add(f"{int(hour24)}:{minute24}")
        return " "

    rest = _TIME.sub(time, text)
    rest = _ORDINAL.sub(lambda m: f" {int(m.group(1))} ", rest)
    found.update(str(int(n)) for n in _NUMBER.findall(rest))
    found.update(w.lower() for w in _WORDS.findall(rest))
    return frozenset(found)


def kept(required: frozenset[str], said: frozenset[str]) -> frozenset[str]:
    """The required facts that ``said`` has, allowing "10:30" for "10:30am" and the reverse."""
    def bare(fact: str) -> str:
        return fact[:-2] if fact.endswith(("am", "pm")) and fact[:-2].replace(":", "").isdigit() else fact

    said_bare = {bare(f) for f in said}
    return frozenset(f for f in required if f in said or bare(f) in said_bare)


def missing(line: str, said: str) -> frozenset[str]:
    """Facts of ``line`` that ``said`` (the reworded reply so far) does not have."""
    required = facts(line)
    return required - kept(required, facts(said))


def invented(sentence: str, known: frozenset[str]) -> frozenset[str]:
    """Facts in ``sentence`` that are not ``known`` (the line's, the clinic's and the conversation's)."""
    found = facts(sentence)
    return found - kept(found, known)


def sentences_with(line_sentences: list[str], wanted: frozenset[str]) -> list[str]:
    """The line's sentences that carry any of ``wanted``, in order."""
    return [s for s in line_sentences if kept(wanted, facts(s))]


__all__ = ["facts", "invented", "kept", "missing", "sentences_with"]
