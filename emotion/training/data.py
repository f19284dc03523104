"""The training and evaluation sets in ``../shared/data``: file lists and labels, nothing cached.

``shared_root()`` (emotion/shared_dir.py) finds ``../shared`` beside the repo (or ``$BEDSIDE_SHARED``).
Every loader returns plain records; audio is read by the caller with :func:`emotion.audio.load_audio`.

Training and evaluation only: the runtime never reads a data set. The labels a model answers with
travel with its weights (``labels`` in ``emotion/models/weights/<model>.json``), so
:data:`RAVDESS_EMOTIONS` is where the prosody training takes them from, not where inference does."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from emotion.shared_dir import DataMissing, shared_root

__all__ = [
    "RAVDESS_EMOTIONS", "DataMissing", "EmoBankRow", "GetGoingCall", "LabelledText", "NonverbalClip", "RavdessClip", "ToxicTweet",
    "davidson", "emobank", "getgoing_calls", "getgoing_split", "goemotions", "noise_files", "noizeus_pairs", "nonverbal_clips", "nonverbal_metadata",
    "ravdess_clips", "shared_root",
]

RAVDESS_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")


def _data_dir(name: str, root: Path | None = None) -> Path:
    path = (root or shared_root()) / "data" / name
    if not path.is_dir():
        raise DataMissing(f"data set {name!r} not found at {path}")
    return path


@dataclass(frozen=True)
class RavdessClip:
    path: Path
    emotion: str  # one of RAVDESS_EMOTIONS
    strong: bool  # intensity 02
    statement: int  # 1 "Kids are talking by the door", 2 "Dogs are sitting by the door"
    actor: int  # 1..24; odd male, even female


def ravdess_clips(root: Path | None = None) -> list[RavdessClip]:
    """The 1,440 speech clips, named ``03-01-EE-II-SS-RR-AA``."""
    clips = []
    for path in sorted(_data_dir("ravdess", root).glob("Actor_*/*.flac")):
        fields = path.stem.split("-")
        if len(fields) != 7:
            continue
        clips.append(
            RavdessClip(path, RAVDESS_EMOTIONS[int(fields[2]) - 1], fields[3] == "02", int(fields[4]), int(fields[6]))
        )
    return clips


@dataclass(frozen=True)
class NonverbalClip:
    path: Path
    label: str  # folder name, e.g. "sighing"
    speaker: str


def nonverbal_clips(root: Path | None = None) -> list[NonverbalClip]:
    """Deeply Nonverbal sample set: ``<class>/{speaker}_{class}_{trial}_...flac``."""
    base = _data_dir("nonverbal", root)
    return [
        NonverbalClip(path, path.parent.name, path.stem.split("_", 1)[0])
        for path in sorted(base.glob("*/*.flac"))
    ]


def nonverbal_metadata(root: Path | None = None) -> dict[str, dict]:
    return json.loads((_data_dir("nonverbal", root) / "metadata.json").read_text())


def noise_files(root: Path | None = None) -> list[Path]:
    """Background recordings (16 kHz): dishes, cat, exercise bike, running tap."""
    return sorted(_data_dir("noise", root).glob("*.flac"))


def noizeus_pairs(root: Path | None = None) -> list[tuple[Path, Path]]:
    """(clean, noisy) NOIZEUS pairs at 8 kHz. They are sample-aligned, so noisy - clean is the real noise."""
    base = _data_dir("noizeus", root)
    pairs = []
    for noisy in sorted((base / "noisy").glob("*/*.flac")):
        clean = base / "clean" / f"{noisy.stem.split('_', 1)[0]}.flac"
        if clean.is_file():
            pairs.append((clean, noisy))
    return pairs


@dataclass(frozen=True)
class LabelledText:
    text: str
    labels: tuple[int, ...]


def goemotions(split: str, root: Path | None = None) -> tuple[list[str], list[LabelledText]]:
    """(label names, rows) of GoEmotions ``train``/``dev``/``test``; 27 emotions + neutral, multi-label."""
    base = _data_dir("goemotions", root)
    names = [line.strip() for line in (base / "labels.txt").read_text().splitlines() if line.strip()]
    rows = []
    with (base / f"{split}.tsv").open(newline="", encoding="utf-8") as f:
        for fields in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(fields) >= 2:
                rows.append(LabelledText(fields[0], tuple(int(i) for i in fields[1].split(",") if i)))
    return names, rows


@dataclass(frozen=True)
class EmoBankRow:
    text: str
    valence: float  # 1..5
    arousal: float  # 1..5
    dominance: float  # 1..5
    split: str


def emobank(root: Path | None = None) -> list[EmoBankRow]:
    rows = []
    with (_data_dir("emobank", root) / "emobank.csv").open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append(EmoBankRow(r["text"], float(r["V"]), float(r["A"]), float(r["D"]), r["split"]))
    return rows


@dataclass(frozen=True)
class ToxicTweet:
    text: str
    label: int  # 0 hate speech, 1 offensive, 2 neither
    votes: tuple[int, int, int]  # annotators who said hate / offensive / neither


def davidson(root: Path | None = None) -> list[ToxicTweet]:
    rows = []
    with (_data_dir("toxicity", root) / "davidson_labeled_data.csv").open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            votes = (int(r["hate_speech"]), int(r["offensive_language"]), int(r["neither"]))
            rows.append(ToxicTweet(r["tweet"], int(r["class"]), votes))
    return rows


@dataclass(frozen=True)
class GetGoingCall:
    uuid: str
    audio: Path  # 8 kHz mono Ogg Opus, caller and system mixed
    user_turns: tuple[str, ...]  # the caller's words as the system's ASR heard them, in order
    system_turns: tuple[str, ...]  # the system's prompts (SSML), empty ones dropped
    split: str  # "dev" (tune and report) or "test" (report once), fixed by the call's id


GETGOING_TEST_SHARE = 3  # every third call (by a hash of its id) is test


def getgoing_split(uuid: str) -> str:
    """``test`` for about a third of the calls, ``dev`` for the rest; stable, by call (never by turn)."""
    return "test" if int(hashlib.sha256(uuid.encode()).hexdigest()[:8], 16) % GETGOING_TEST_SHARE == 0 else "dev"


def getgoing_calls(root: Path | None = None, split: str | None = None) -> list[GetGoingCall]:
    """The 60 GetGoing calls (58 with their turns; CMU GetGoing licence: keep its notice, mark modifications), optionally one split."""
    calls = []
    for audio in sorted(_data_dir("getgoing", root).glob("*.opus")):
        meta = audio.with_suffix(".json")  # two calls come without one: audio only
        history = json.loads(meta.read_text(encoding="utf-8")).get("history", []) if meta.is_file() else []
        user = tuple(h[5:].strip() for h in history if h.startswith("USER ") and h[5:].strip())
        system = tuple(h[4:].strip() for h in history if h.startswith("TTS ") and h[4:].strip())
        call = GetGoingCall(audio.stem, audio, user, system, getgoing_split(audio.stem))
        if split is None or call.split == split:
            calls.append(call)
    return calls
