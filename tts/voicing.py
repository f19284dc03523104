"""What an expression does to text and audio around piper: clauses, key facts, warmth.

Pure functions, no model: the synthesizer calls them, tests call them directly.

* :func:`clauses` cuts a sentence where a speaker could pause (comma, semicolon, colon, dash),
  each piece keeping its punctuation so piper keeps the continuation intonation;
* :func:`carries_key_fact` says whether a clause holds what the caller must catch (a day, a
  time, a number), which an expression may say slower and louder;
* :func:`tilt` is the warmth filter: an RBJ low shelf at 400 Hz raised and a high shelf at
  2.5 kHz lowered by the same dB (negative: brighter), then scaled back to the loudness it
  had, so warmth colours the voice and ``gain_db`` alone sets how loud it is. Shelves rather
  than pitch shifting because they leave the timing untouched and cost two biquads;
* :func:`trim_edges` cuts piper's own silence before and after a rendered piece (up to 300 ms
  before a sentence that starts with "I"), so the pauses between sentences and clauses are the
  expression's alone and a reply's first sound is not late."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

WARM_LOW_HZ = 400.0
WARM_HIGH_HZ = 2500.0
# Kept around the first and last sound when trimming: a soft onset ("h", "f") starts a little
# before its 10 ms window crosses the threshold, and a final consonant fades out after it.
TRIM_WINDOW_MS = 10
TRIM_LEAD_MS = 30
TRIM_TAIL_MS = 60

_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=[-–—]\s)")
_MIN_CLAUSE_CHARS = 12  # shorter pieces ("Yes," "Oh,") stay attached: a pause there sounds odd
_KEY_FACT = re.compile(
    r"\d|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tomorrow|tonight|"
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"a\.m\.|p\.m\.|am|pm|noon|midnight|o'clock|nine one one|emergency)\b",
    re.IGNORECASE,
)


def clauses(sentence: str) -> list[str]:
    """``sentence`` cut at its pause points; joining the pieces with spaces gives it back."""
    pieces: list[str] = []
    for piece in _CLAUSE_END.split(sentence.strip()):
        if pieces and (len(pieces[-1]) < _MIN_CLAUSE_CHARS or len(piece) < _MIN_CLAUSE_CHARS):
            pieces[-1] = f"{pieces[-1]} {piece}"
        elif piece:
            pieces.append(piece)
    return pieces


def carries_key_fact(clause: str) -> bool:
    return _KEY_FACT.search(clause) is not None


@lru_cache(maxsize=32)
def _tilt_sos(db: float, rate: int) -> np.ndarray:
    return np.vstack([_shelf(db, WARM_LOW_HZ, rate, low=True), _shelf(-db, WARM_HIGH_HZ, rate, low=False)])


def _shelf(gain_db: float, freq: float, rate: int, low: bool) -> np.ndarray:
    """RBJ audio-EQ-cookbook shelf (slope 1) as one second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / rate
    cos_w0, alpha = np.cos(w0), np.sin(w0) / 2 * np.sqrt(2)
    root = 2 * np.sqrt(a) * alpha
    sign = 1 if low else -1
    b0 = a * ((a + 1) - sign * (a - 1) * cos_w0 + root)
    b1 = sign * 2 * a * ((a - 1) - sign * (a + 1) * cos_w0)
    b2 = a * ((a + 1) - sign * (a - 1) * cos_w0 - root)
    a0 = (a + 1) + sign * (a - 1) * cos_w0 + root
    a1 = -sign * 2 * ((a - 1) + sign * (a + 1) * cos_w0)
    a2 = (a + 1) + sign * (a - 1) * cos_w0 - root
    return np.array([b0, b1, b2, a0, a1, a2]) / a0


def tilt(audio: np.ndarray, warmth_db: float, rate: int) -> np.ndarray:
    """Warmth: +dB below 400 Hz and -dB above 2.5 kHz, same RMS as before (0 dB: unchanged)."""
    if warmth_db == 0 or audio.size == 0:
        return audio
    from scipy.signal import sosfilt  # here, not at the top: scipy.signal costs a SIP worker that uses the
    # front's voice (and never renders audio) ~75 MB (docs/benchmarks.md)

    tilted = sosfilt(_tilt_sos(float(warmth_db), rate), audio)
    before, after = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))), float(np.sqrt(np.mean(tilted**2)))
    return (tilted * (before / after if after > 0 else 1.0)).astype(np.float32)


def db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))


def trim_edges(audio: np.ndarray, rate: int, below_db: float) -> np.ndarray:
    """``audio`` without the quiet before its first and after its last 10 ms window within
    ``below_db`` of its peak, keeping ``TRIM_LEAD_MS`` / ``TRIM_TAIL_MS`` around them.
    All-quiet or empty audio comes back as it is."""
    window = max(1, rate * TRIM_WINDOW_MS // 1000)
    frames = audio.size // window
    if frames == 0:
        return audio
    rms = np.sqrt(np.mean(np.square(audio[: frames * window].reshape(frames, window), dtype=np.float64), axis=1))
    peak = float(np.max(np.abs(audio)))
    loud = np.flatnonzero(rms > peak * db_to_gain(below_db))
    if peak == 0 or loud.size == 0:
        return audio
    start = max(0, int(loud[0]) * window - rate * TRIM_LEAD_MS // 1000)
    end = min(audio.size, (int(loud[-1]) + 1) * window + rate * TRIM_TAIL_MS // 1000)
    return audio[start:end]
