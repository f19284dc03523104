"""Threat: a small documented rule set (:data:`THREAT_RULES`), not a learned model.

There is no labelled threat data in ../shared, so ``threat`` in the language model's toxicity is the
highest score of the rules that match the text."""

from __future__ import annotations

import re

_SELF = r"(?:i|we)(?:\s*'?\s*ll|\s+will|(?:\s+am|\s*'m|\s+are|\s*'re)\s+(?:going\s+to|gonna)|\s+gonna|\s+want\s+to|\s+wanna)"
_YOU = r"(?:you|u|ya|y'all|your\s+(?:staff|doctor|family|kids?|wife|husband)|the\s+(?:doctor|nurse|receptionist|staff)|him|her|them)"
THREAT_RULES: tuple[tuple[str, float, str], ...] = (
    # (regex on lower-cased text, score, what it catches)
    (rf"\b{_SELF}\s+(?:\w+\s+)?(?:kill|hurt|shoot|stab|strangle|murder|beat\s+up|beat|punch|slap|smash|strangle|choke|break)\s+{_YOU}\b",
     0.95, "I'll kill/hurt/shoot ... you"),
    (r"\b(?:you(?:'re|\s+are)|you're)\s+(?:dead|gonna\s+die|going\s+to\s+die)\b", 0.9, "you're dead"),
    (r"\b(?:i|we)\s+know\s+where\s+you\s+live\b", 0.9, "I know where you live"),
    (r"\bwatch\s+your\s+back\b", 0.85, "watch your back"),
    (rf"\b{_SELF}\s+(?:\w+\s+)?(?:burn|blow\s+up|bomb|shoot\s+up)\s+(?:the|this|your)\s+\w+", 0.95, "I'll burn/blow up the ..."),
    (r"\byou(?:'ll|\s+will|\s+are\s+going\s+to|'re\s+going\s+to|'re\s+gonna|\s+are\s+gonna)\s+(?:regret|pay\s+for)\b", 0.8,
     "you'll regret it / pay for this"),
    (r"\byou(?:'d|\s+had)\s+better\s+watch\s+(?:out|yourself)\b", 0.8, "you'd better watch out"),
    (rf"\b{_SELF}\s+(?:\w+\s+)?come\s+down\s+(?:there|to\s+(?:the|your)\s+\w+)", 0.6, "I'm going to come down there"),
    (rf"\b{_SELF}\s+(?:\w+\s+)?(?:sue|take\s+you\s+to\s+court|get\s+a\s+lawyer|call\s+my\s+lawyer)", 0.5, "I'm going to sue"),
)
_THREAT_COMPILED = tuple((re.compile(rx), score) for rx, score, _ in THREAT_RULES)
_NEGATED = re.compile(r"\b(?:not|never|n't|wouldn't|won't)\s*$")


def threat_score(text: str) -> float:
    """Highest score of the :data:`THREAT_RULES` that match, 0 when none does.

    A match directly preceded by a negation ("I would never ... ") is ignored; this is a keyword
    detector, not an understanding of intent: it is meant to flag calls for a human to review."""
    low = re.sub(r"[’‘`]", "'", text.lower())
    best = 0.0
    for rx, score in _THREAT_COMPILED:
        for m in rx.finditer(low):
            if score > best and not _NEGATED.search(low[max(0, m.start() - 12) : m.start()]):
                best = score
    return best
