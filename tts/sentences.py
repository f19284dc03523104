"""Cut reply text into sentences so speech can start after the first one is synthesized.

Rules, in order (a wrong split costs odd prosody, a missed split only a little latency,
so when in doubt we do not split):

* a line break always ends a sentence; list markers ("- ", "1. ") at a line start are dropped;
* ``?`` / ``!`` followed by whitespace end a sentence;
* ``.`` / ``...`` / ``…`` followed by whitespace end a sentence unless the next word starts
  lower-case ("9:30 a.m. on Monday", "well... maybe"), the word before is a title that always
  precedes a name ("Dr.", "Mrs.", "St."), a never-final abbreviation ("e.g.", "i.e.", "ext."),
  "No." before a number, or a single initial ("J. Smith");
* a period not followed by whitespace never splits (98.6, 3.5 mg, a.m.,);
* a sentence over ``MAX_SENTENCE_CHARS`` is cut at its last comma/semicolon/colon/dash that
  fits (else at a space), so one run-on sentence cannot delay the first audio.

``SentenceBuffer`` applies the same rules to text arriving in pieces (an LLM token
stream): a boundary is confirmed once the first character after it has arrived, and
pushing any chunking of a text then flushing gives exactly ``split_sentences(text)``."""

from __future__ import annotations

import re
import unicodedata

MAX_SENTENCE_CHARS = 200
MIN_CLAUSE_CHARS = 40  # a long sentence is never cut into a fragment shorter than this

_TITLES = frozenset({"dr", "drs", "mr", "mrs", "ms", "mx", "prof", "st", "mt", "rev", "hon", "sgt", "capt"})
_NEVER_FINAL = frozenset({"e.g", "i.e", "eg", "cf", "vs", "approx", "ext", "tel", "fig"})
_CLOSERS = "\"'”’)]"

_CANDIDATE = re.compile(r"[.!?…]+[" + re.escape(_CLOSERS) + r"]*")
_TOKEN_BEFORE = re.compile(r"[^\s(\[\"'“‘]+$")
_LIST_MARKER = re.compile(r"(?:[-•–]|\d{1,2}[.)])\s+")
_CLAUSE_BREAK = re.compile(r"[,;:]\s|\s[-–—]\s")
_WHITESPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r" (?=[.,!?;:…])")  # left behind by a removed emoji: "news 🎉!"


def _is_noise(ch: str) -> bool:
    """Characters that should never reach the phonemizer (espeak reads emoji names aloud)."""
    if ch in "*`\u200d\ufe0e\ufe0f":  # markdown emphasis/code, emoji joiners and selectors
        return True
    code = ord(ch)
    if 0x1F000 <= code <= 0x1FFFF:  # emoji and pictograph planes
        return True
    category = unicodedata.category(ch)
    if category == "So" and code >= 0x2190:  # arrows, dingbats, misc symbols (keeps ° and ™)
        return True
    return category in ("Cc", "Cf", "Co", "Cn") and not ch.isspace()


def _clean(line: str) -> str:
    """Drop noise, collapse whitespace, strip the left. Idempotent and prefix-stable, which
    is what lets the incremental buffer store cleaned text."""
    line = "".join(ch for ch in unicodedata.normalize("NFC", line) if not _is_noise(ch))
    return _SPACE_BEFORE_PUNCT.sub("", _WHITESPACE.sub(" ", line)).lstrip()


def _is_boundary(line: str, start: int, punct: str, next_char: str) -> bool:
    """Does the punctuation run ``punct`` at ``line[start]`` end a sentence?"""
    if "?" in punct or "!" in punct:
        return True
    if next_char.islower():
        return False
    if punct.rstrip(_CLOSERS) != ".":  # an ellipsis before a capital
        return True
    match = _TOKEN_BEFORE.search(line, 0, start)
    if match is None:
        return True
    token = match.group()
    lower = token.lower()
    if lower in _TITLES or lower in _NEVER_FINAL:
        return False
    if lower in ("no", "nos") and next_char.isdigit():
        return False
    return not (len(token) == 1 and token.isupper())  # an initial


def _cut_point(text: str) -> int:
    """Where to cut a sentence longer than MAX_SENTENCE_CHARS. Looks at text[:MAX + 1] only."""
    window = text[: MAX_SENTENCE_CHARS + 1]
    cut = 0
    for match in _CLAUSE_BREAK.finditer(window):
        end = match.start() + 1  # keep the comma/semicolon with the first part
        if MIN_CLAUSE_CHARS <= end <= MAX_SENTENCE_CHARS:
            cut = end
    if cut:
        return cut
    space = window.rfind(" ", MIN_CLAUSE_CHARS)
    return space if space > 0 else MAX_SENTENCE_CHARS


def _emit(sentence: str, out: list[str]) -> None:
    sentence = sentence.strip()
    if any(ch.isalnum() for ch in sentence):  # "...", "-" or a removed emoji say nothing
        out.append(sentence)


def _split_long(text: str, out: list[str], final: bool) -> str:
    """Cut run-on text into pieces; returns what is left (all of it emitted when final)."""
    while len(text.rstrip()) > MAX_SENTENCE_CHARS:
        cut = _cut_point(text)
        _emit(text[:cut], out)
        text = text[cut:].lstrip()
    if final:
        _emit(text, out)
        return ""
    return text


def _split_line(line: str, final: bool, line_start: bool) -> tuple[list[str], str, bool]:
    """Split one line. Returns (sentences, unfinished remainder, remainder starts the line)."""
    line = _clean(line)
    if line_start:
        marker = _LIST_MARKER.match(line)
        if marker:
            line, line_start = line[marker.end() :], False
    out: list[str] = []
    pos = 0
    for match in _CANDIDATE.finditer(line):
        end = match.end()
        if end < len(line) and not line[end].isspace():
            continue  # "3.5", "a.m.," -- never a boundary
        following = line[end:].lstrip()
        if not following:
            if not final:
                break  # cannot judge without the next character yet
            boundary = True
        else:
            boundary = _is_boundary(line, match.start(), match.group(), following[0])
        if boundary:
            _split_long(line[pos:end], out, final=True)
            pos = end
            line_start = False
    rest = line[pos:].lstrip()
    if pos or len(rest.rstrip()) > MAX_SENTENCE_CHARS:
        line_start = False
    return out, _split_long(rest, out, final), line_start


def _split(text: str, final: bool, line_start: bool = True) -> tuple[list[str], str, bool]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for index, line in enumerate(lines):
        starts = line_start if index == 0 else True
        if index == len(lines) - 1 and not final:
            sentences, rest, starts = _split_line(line, False, starts)
            return out + sentences, rest, starts
        out += _split_line(line, True, starts)[0]
    return out, "", True


def split_sentences(text: str) -> list[str]:
    """All sentences of a complete text, cleaned for speech; [] for blank text."""
    return _split(text, final=True)[0]


class SentenceBuffer:
    """Incremental splitter for streamed text: ``push`` deltas, ``flush`` at the end."""

    def __init__(self) -> None:
        self._pending = ""
        self._line_start = True

    def push(self, delta: str) -> list[str]:
        """Add text; returns the sentences it completed (often none)."""
        sentences, self._pending, self._line_start = _split(self._pending + delta, False, self._line_start)
        return sentences

    def flush(self) -> list[str]:
        """End of stream: return whatever is left as sentences and reset."""
        sentences = _split(self._pending, True, self._line_start)[0]
        self._pending, self._line_start = "", True
        return sentences

    @property
    def pending(self) -> str:
        """Text received but not yet returned as a sentence."""
        return self._pending
