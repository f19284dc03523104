"""Hesitation and chit-chat a caller starts an answer with ("um", "yeah so"), which the name and
free-text readers skip: whisper keeps it in the transcript."""

from __future__ import annotations

import re

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
