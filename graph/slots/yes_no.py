"""Yes/no answers (consent, confirmations). Any negation wins over any agreement ("yes, no, that's
not right" is no) and uncertainty ("I'm not sure") is None, because a wrong yes is worse than
asking again; keypad 1 is yes, 2 is no."""

from __future__ import annotations

from graph.slots.numbers import tokens
from graph.slots.value import Said, SlotValue

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


def extract_yes_no(said: Said) -> SlotValue | None:
    """"yes" / "no" / None (unclear). Any negation wins over any agreement ("yes, no, that's not
    right" is no); uncertainty ("I'm not sure") is None; keypad 1 is yes, 2 is no."""
    if said.keys in ("1", "2"):
        answer = "yes" if said.keys == "1" else "no"
        return SlotValue(answer, answer)
    padded = f" {' '.join(tokens(said.text))} "
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
