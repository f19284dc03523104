#!/usr/bin/env python
"""Turn-end policies on telephone audio: fixed VAD silence vs. VAD silence + Smart Turn v3.2.

Usage:  nice -n 15 .venv/bin/python scripts/eval_turn_end.py [--quick] [--sets noizeus,fsdd,getgoing]
                                                             [--dump-turns FILE] [--json FILE]

Every stream takes the call path: 8 kHz audio -> G.711 mu-law round trip (``telephony.g711``, bit-exact
PCMU) -> soxr up to 16 kHz -> 20 ms int16 frames -> Silero VAD (``telephony.vad``, one shared session,
a fresh state per stream). The VAD probabilities drive the segmenter's rules (speech opens after 60 ms
>= 0.5; inside an utterance a frame under 0.35 is silence; speech under 200 ms is discarded), and each
policy decides, frame by frame, when the silence ends the turn:

* ``fixed S``: S ms of silence (today: 300).
* ``ST a/t/rR/L``: after ``a`` ms of silence Smart Turn runs on the turn's audio so far (from 0.5 s before
  its first onset, the last 8 s, as pipecat does); probability > t ends the turn. If not, it runs again at
  every multiple of R ms of silence (``r0``: never), and L ms of silence ends the turn regardless.
  Speech resuming keeps the turn open (the next pause is judged on the whole turn so far).
* ``ST a/t/r0/L @T``: as above, but a "complete" verdict takes the turn only at T ms of silence, void if
  speech resumes first: ``ST 100/0.5/r0/300 @200`` is Bedside's ``turn.end_model`` default
  (agent/call/turn_end.py: the model at ``pause_ms`` 100, ``end_model_silence_ms`` 200, else 300 ms).

Sets (each stream has a known speech start and final end; everything before the final end is unfinished):

* ``noizeus-clean``: the 15 NOIZEUS sentences, each split at 3 low-energy points inside the sentence
  (word boundaries or stop closures, so some cuts are mid-word) by an inserted 0.3-1.5 s silence;
  ``noizeus-noisy``: the same sentences, one split each, under babble/car/street/restaurant noise at 10 dB
  (NOIZEUS's own noise: noisy - clean, mirrored-tiled over the whole stream, gaps included).
* ``fsdd``: 10-digit strings (3-3-4) from one FSDD speaker each, 150-600 ms between digits and
  600-1200 ms between groups; every gap is an unfinished turn, the last digit finishes it.
* ``getgoing``: real callers (CMU GetGoing). The recordings hold the caller only (silence gated to digital
  zero between bursts), so every VAD chunk is the caller. Turns: chunks (260 ms of silence apart) are
  transcribed with tiny.en (``WhisperTranscriber``, no prompt) and aligned in order to the call's ``USER``
  lines by fuzzy word match (monotone dynamic programme); a USER line with no matched chunk takes the one
  chunk lying alone between its neighbours' chunks. A turn spans its first to its last chunk (dropped when two
  of its chunks are more than 2 s apart: a "yes" matched twice); the caller's pauses inside it are
  unfinished, its end is finished. The stream is 1 s before the turn (after any earlier
  chunk) to the next chunk (at most 3.5 s), then digital zero. ``--dump-turns`` writes the derived turns.

Reported per set and policy: finished turns, the silence after the end of speech (VAD) before the turn is
taken (median, p95); unfinished pauses taken as finished (% of the VAD pauses >= 100 ms before the final
end of speech, n) and streams cut at least once (split turns). Then the model alone (complete: final end +
200 ms; incomplete: each pause >= 200 ms, 200 ms in; threshold 0.5) and its inference time.
Deterministic: fixed seeds, one onnxruntime thread.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from telephony.audio import FRAME_SAMPLES, SAMPLE_RATE, float_to_pcm16  # noqa: E402
from telephony.g711 import mulaw_round_trip  # noqa: E402
from telephony.turn_end import TurnEndModel  # noqa: E402
from telephony.vad import SileroModel, SileroVad  # noqa: E402

DATA = Path(os.environ.get("BEDSIDE_SHARED", REPO.parent / "shared")) / "data"
FRAME_MS = 20
SPEECH_T, SILENCE_T, START_FRAMES = 0.5, 0.35, 3  # the segmenter's defaults (60 ms onset)
MIN_UTT_FRAMES = 10  # min_utterance_ms 200
PRE_SPEECH_S = 0.5  # audio before the turn's onset given to the model (pipecat's pre_speech_ms)
LEAD_S, TRAIL_S = 0.5, 3.5  # bed before / after synthetic streams (3.5 s > pipecat's 3 s fallback)
MIN_PAUSE_FRAMES = 5  # a pause opportunity is >= 100 ms of VAD silence
NOIZEUS_NOISES = ("babble_10dB", "car_10dB", "street_10dB", "restaurant_10dB")
DIGIT_PEAK_DB = -20.0  # FSDD speakers differ by 25 dB; each digit is levelled to this frame-RMS peak
SEED = 20240611
MAX_TURN_GAP_S = 2.0  # GetGoing: chunks of one USER line further apart than this make the turn ambiguous


# --- audio -----------------------------------------------------------------------------------

def load8k(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return x if sr == 8000 else soxr.resample(x, sr, 8000).astype(np.float32)


def phone16(x8k: np.ndarray) -> np.ndarray:
    """8 kHz float -> G.711 mu-law round trip -> 16 kHz float32: what the segmenter receives."""
    return soxr.resample(mulaw_round_trip(np.clip(x8k, -1, 1)), 8000, SAMPLE_RATE).astype(np.float32)


def frame_db8(x: np.ndarray, hop: int = 80) -> np.ndarray:
    """10 ms frame RMS of 8 kHz audio, dBFS."""
    f = np.pad(x, (0, -len(x) % hop)).reshape(-1, hop).astype(np.float64)
    return 20 * np.log10(np.sqrt(np.mean(f * f, axis=1)) + 1e-9)


def white_bed(n: int, db: float, rng: np.random.Generator) -> np.ndarray:
    return (rng.standard_normal(n) * 10 ** (db / 20)).astype(np.float32)


def mirror_tile(x: np.ndarray, n: int) -> np.ndarray:
    """``x``, reversed ``x``, ``x`` ... cut to n samples: a noise bed without jumps at the joins."""
    reps = int(np.ceil(n / len(x))) + 1
    return np.concatenate([x if i % 2 == 0 else x[::-1] for i in range(reps)])[:n].astype(np.float32)


def fade(x: np.ndarray, ms: float = 10.0) -> np.ndarray:
    k = min(len(x) // 2, int(8 * ms))
    ramp = np.linspace(0.0, 1.0, k, dtype=np.float32)
    y = x.copy()
    y[:k] *= ramp
    y[len(y) - k :] *= ramp[::-1]
    return y


# --- streams and policies ----------------------------------------------------------------------

@dataclass
class Stream:
    name: str
    set: str
    audio: np.ndarray  # 16 kHz float32 after the phone path
    speech_start_s: float  # ground truth (construction or call-level VAD)
    speech_end_s: float  # the final end of speech: everything before is an unfinished turn


@dataclass
class Track:
    stream: Stream
    probs: np.ndarray
    first_onset: int
    final_end: int  # frame index just past the last speech frame of the turn
    pauses: list[tuple[int, int]]  # [start, end) silence runs >= 100 ms before final_end


@dataclass(frozen=True)
class Policy:
    s_short: int
    threshold: float | None  # None: fixed silence, no model
    recheck: int
    s_long: int
    take: int = 0  # a "complete" verdict takes the turn at this much silence (0: at once), void if speech resumes

    @property
    def name(self) -> str:
        if self.threshold is None:
            return f"fixed {self.s_long}"
        return f"ST {self.s_short}/{self.threshold:g}/r{self.recheck}/{self.s_long}" + (f" @{self.take}" if self.take else "")

    def checkpoints(self) -> frozenset[int]:
        """Silent frames after which the model is asked (ms rounded to frames as the segmenter does)."""
        if self.threshold is None:
            return frozenset()
        points = {self.s_short}
        if self.recheck:
            points |= {m for m in range(self.recheck, self.s_long, self.recheck) if m > self.s_short}
        return frozenset(frames(p) for p in points if frames(p) < frames(self.s_long))


def frames(ms: int) -> int:
    """telephony/segmenter.py's rounding: 250 ms is 12 frames (240 ms), 150 ms is 8 (160 ms)."""
    return max(1, round(ms / FRAME_MS))


def fixed(ms: int) -> Policy:
    return Policy(ms, None, 0, ms)


BASELINES = [fixed(ms) for ms in (200, 250, 300, 400)]
LONG_FIXED = [fixed(ms) for ms in (500, 600, 800, 1000, 1500, 2000, 3000)]  # what the model must beat at low cut rates
PIPECAT_DEFAULT = Policy(200, 0.5, 0, 3000)  # VAD stop_secs 0.2, one prediction, stop_secs 3 fallback
# Bedside's call path (agent/call/turn_end.py): the model at the pause (pause_ms 100); a complete verdict
# ends the turn at turn.end_model_silence_ms (200; void if speech resumes first), else the 300 ms silence.
SHIPPED = Policy(100, 0.5, 0, 300, take=200)
SHORTENING = [Policy(100, t, 0, 300, take) for t in (0.5, 0.7, 0.9) for take in (0, 200)]
GRID = [
    Policy(a, t, r, L)
    for a, t, r, L in itertools.product(
        (100, 150, 200, 300), (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99), (0, 200), (500, 600, 800, 1000, 1500, 2000, 3000)
    )
    if a < L
]


def vad_probs(audio: np.ndarray, model: SileroModel) -> np.ndarray:
    vad = SileroVad(model)
    pcm = float_to_pcm16(audio)
    step = FRAME_SAMPLES * 2
    return np.array([vad.probability(pcm[i : i + step]) for i in range(0, len(pcm) - step + 1, step)], dtype=np.float32)


def make_track(stream: Stream, model: SileroModel) -> Track | None:
    p = vad_probs(stream.audio, model)
    start = max(0, int(stream.speech_start_s * 1000 / FRAME_MS) - 15)
    run, first_onset = 0, -1
    for n in range(start, len(p)):
        run = run + 1 if p[n] >= SPEECH_T else 0
        if run >= START_FRAMES:
            first_onset = n - START_FRAMES + 1
            break
    last = min(len(p) - 1, int((stream.speech_end_s + 0.2) * 1000 / FRAME_MS))
    voiced = np.flatnonzero(p[: last + 1] >= SILENCE_T)
    if first_onset < 0 or not voiced.size or voiced[-1] < first_onset:
        return None  # the VAD never opened on this speech
    final_end = int(voiced[-1]) + 1
    pauses: list[tuple[int, int]] = []
    silent_from = None
    for n in range(first_onset, final_end):
        if p[n] < SILENCE_T:
            silent_from = n if silent_from is None else silent_from
        elif silent_from is not None:
            if n - silent_from >= MIN_PAUSE_FRAMES:
                pauses.append((silent_from, n))
            silent_from = None
    return Track(stream, p, first_onset, final_end, pauses)


class ModelCache:
    """Smart Turn probabilities by (stream, turn onset frame, decision frame), timed when computed.

    ``path``: keep them in a JSON file between runs (the streams are deterministic; delete it after
    changing how streams are built)."""

    def __init__(self, model: TurnEndModel, path: Path | None = None) -> None:
        self.model = model
        self.path = path
        self._cache: dict[str, float] = json.loads(path.read_text()) if path and path.exists() else {}
        self.times_ms: list[float] = []

    def save(self) -> None:
        if self.path:
            self.path.write_text(json.dumps(self._cache))

    def __call__(self, track: Track, onset: int, end: int) -> float:
        key = f"{track.stream.name}|{onset}|{end}"
        if key not in self._cache:
            a = max(0, onset * FRAME_SAMPLES - int(PRE_SPEECH_S * SAMPLE_RATE))
            audio = track.stream.audio[a : end * FRAME_SAMPLES]
            t = time.perf_counter()
            self._cache[key] = self.model.probability(audio)
            self.times_ms.append((time.perf_counter() - t) * 1000)
        return self._cache[key]


def simulate(track: Track, policy: Policy, prob: Callable[[Track, int, int], float]) -> tuple[list[int], list[int]]:
    """Frames at which the policy ends a turn (taken at the end of that frame), and frames at which turns open."""
    checkpoints, long_frames = policy.checkpoints(), frames(policy.s_long)
    take_frames = frames(policy.take) if policy.take else 0
    taken: list[int] = []
    opened: list[int] = []
    idle, run, onset, last_speech, silence = True, 0, 0, 0, 0
    pending = 0  # silence (frames) at which a "complete" verdict takes the turn; 0: none
    for n, v in enumerate(track.probs):
        if idle:
            run = run + 1 if v >= SPEECH_T else 0
            if run >= START_FRAMES:
                idle, onset, last_speech, silence = False, n - START_FRAMES + 1, n + 1, 0
                opened.append(n)
            continue
        if v >= SILENCE_T:
            silence, last_speech, pending = 0, n + 1, 0
            continue
        silence += 1
        long_enough = last_speech - onset >= MIN_UTT_FRAMES
        end = silence >= long_frames or (pending and silence >= pending)
        if not end and silence in checkpoints and long_enough:
            if prob(track, onset, n + 1) > (policy.threshold or 0.0):
                end = take_frames <= silence
                pending = 0 if end else take_frames
        if end:
            pending = 0
            if long_enough:
                taken.append(n)
            idle, run = True, 0
    return taken, opened


@dataclass
class Score:
    delays_ms: list[int] = field(default_factory=list)  # finished turns: silence before taken
    never_taken: int = 0  # a turn was open at the end of speech and no silence closed it (noise kept the VAD up)
    not_reopened: int = 0  # cut early, and the speech after the cut never reopened a turn (its words are lost)
    pauses: int = 0
    pauses_cut: int = 0
    streams: int = 0
    streams_cut: int = 0
    unmapped_cuts: int = 0  # a premature end outside every counted pause (should stay 0)

    def add(self, track: Track, taken: list[int], opened: list[int]) -> None:
        self.streams += 1
        self.pauses += len(track.pauses)
        early = [n for n in taken if track.first_onset <= n < track.final_end]
        cut = set()
        for n in early:
            hit = [i for i, (a, b) in enumerate(track.pauses) if a <= n < b]
            if hit:
                cut.add(hit[0])
            else:
                self.unmapped_cuts += 1
        self.pauses_cut += len(cut)
        self.streams_cut += bool(early)
        late = [n for n in taken if n >= track.final_end]
        if late:
            self.delays_ms.append((late[0] + 1 - track.final_end) * FRAME_MS)
        elif max((n for n in opened if n < track.final_end), default=-1) > max(early, default=-1):
            self.never_taken += 1
        else:
            self.not_reopened += 1

    @property
    def cut_pct(self) -> float:
        return 100.0 * self.pauses_cut / max(1, self.pauses)

    @property
    def split_pct(self) -> float:
        return 100.0 * self.streams_cut / max(1, self.streams)

    def median(self) -> float:
        return float(np.median(self.delays_ms)) if self.delays_ms else float("nan")

    def p95(self) -> float:
        return float(np.percentile(self.delays_ms, 95)) if self.delays_ms else float("nan")


# --- data sets -------------------------------------------------------------------------------

def split_points(x8: np.ndarray, k: int, rng: np.random.Generator) -> tuple[list[int], int, int]:
    """Up to k sample positions inside the sentence at local energy minima (word boundaries, closures),
    lowest first, 250 ms apart; plus the sentence's active start and end (samples)."""
    db = frame_db8(x8)
    active = np.flatnonzero(db > db.max() - 35)
    a, b = int(active[0]), int(active[-1]) + 1
    smooth = np.convolve(db, np.ones(3) / 3, mode="same")
    lo, hi = a + int(0.2 * (b - a)), b - int(0.2 * (b - a))
    cands = [i for i in range(max(lo, 1), min(hi, len(smooth) - 1)) if smooth[i] <= smooth[i - 1] and smooth[i] <= smooth[i + 1]]
    cands.sort(key=lambda i: (smooth[i], i))
    chosen: list[int] = []
    for i in cands:
        if all(abs(i - j) >= 25 for j in chosen):
            chosen.append(i)
        if len(chosen) == k:
            break
    return [i * 80 for i in sorted(chosen)], a * 80, b * 80


def noizeus_streams(quick: bool) -> list[Stream]:
    rng = np.random.default_rng(SEED)
    names = [f"sp{i:02d}" for i in range(1, 16)][: 5 if quick else 15]
    out: list[Stream] = []
    for name in names:
        clean = load8k(DATA / "noizeus" / "clean" / f"{name}.flac")
        points, a, b = split_points(clean, 1 if quick else 3, rng)
        noisy = {noise: load8k(DATA / "noizeus" / "noisy" / noise / f"{name}_{noise.split('_')[0]}_sn{noise.split('_')[1][:-2]}.flac")
                 for noise in NOIZEUS_NOISES[: 1 if quick else 4]}
        variants: list[tuple[str, int]] = [("clean", p) for p in points]
        variants += [(noise, points[(i + 1) % len(points)]) for i, noise in enumerate(noisy)]
        for variant, point in variants:
            gap = int(rng.uniform(0.3, 1.5) * 8000)
            lead, trail = int(LEAD_S * 8000), int(TRAIL_S * 8000)
            speech = np.concatenate([np.zeros(lead, np.float32), clean[:point], np.zeros(gap, np.float32), clean[point:],
                                     np.zeros(trail, np.float32)])
            if variant == "clean":
                x = speech + white_bed(len(speech), -60.0, rng)
            else:
                residual = noisy[variant][: len(clean)] - clean[: len(noisy[variant])]
                x = speech + mirror_tile(residual, len(speech))
            out.append(Stream(
                name=f"{name}-{variant}-{point}", set="noizeus-clean" if variant == "clean" else "noizeus-noisy",
                audio=phone16(x), speech_start_s=(lead + a) / 8000, speech_end_s=(lead + gap + b) / 8000,
            ))
    return out


def fsdd_streams(quick: bool) -> list[Stream]:
    rng = np.random.default_rng(SEED + 1)
    speakers = sorted({p.stem.split("_")[1] for p in (DATA / "fsdd").glob("*.flac")})
    out: list[Stream] = []
    for speaker in speakers:
        for k in range(1 if quick else 4):
            digits = rng.integers(0, 10, size=10)
            pieces: list[np.ndarray] = []
            floors: list[float] = []
            for d in digits:
                x = load8k(DATA / "fsdd" / f"{d}_{speaker}_{rng.integers(0, 50)}.flac")
                db = frame_db8(x)
                x = x * 10 ** ((DIGIT_PEAK_DB - db.max()) / 20)
                floors.append(float(np.percentile(db, 10)) + DIGIT_PEAK_DB - float(db.max()))
                pieces.append(fade(x.astype(np.float32)))
            parts = [np.zeros(int(LEAD_S * 8000), np.float32)]
            for i, piece in enumerate(pieces):
                parts.append(piece)
                if i < 9:
                    gap_s = rng.uniform(0.6, 1.2) if i in (2, 5) else rng.uniform(0.15, 0.6)
                    parts.append(np.zeros(int(gap_s * 8000), np.float32))
            end = sum(len(p) for p in parts)
            parts.append(np.zeros(int(TRAIL_S * 8000), np.float32))
            speech = np.concatenate(parts)
            x = speech + white_bed(len(speech), max(-60.0, min(floors) - 3), rng)
            out.append(Stream(name=f"fsdd-{speaker}-{k}-{''.join(map(str, digits))}", set="fsdd", audio=phone16(x),
                              speech_start_s=LEAD_S, speech_end_s=end / 8000))
    return out


# GetGoing: caller turns from the caller-only recordings and the JSON's USER lines.

def _words(text: str) -> list[str]:
    from agent.services.stt import normalize_for_wer  # the eval's only agent import (tiny.en text)

    return normalize_for_wer(text).split()


def _word_match(a: str, b: str) -> bool:
    return a == b or (len(a) > 2 and len(b) > 2 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.75)


def _chunk_score(chunk: list[str], line: list[str]) -> float:
    hits = sum(any(_word_match(w, v) for v in line) for w in chunk)
    return hits - 0.5 * (len(chunk) - hits)


def vad_chunks(p: np.ndarray, gap_frames: int = 13) -> list[tuple[int, int]]:
    """Speech chunks [onset, end) with the segmenter's rules, closed by 260 ms of silence."""
    out: list[tuple[int, int]] = []
    run, cur, silence = 0, None, 0
    for n, v in enumerate(p):
        if cur is None:
            run = run + 1 if v >= SPEECH_T else 0
            if run >= START_FRAMES:
                cur, silence = [n - START_FRAMES + 1, n + 1], 0
        elif v >= SILENCE_T:
            cur[1], silence = n + 1, 0
        else:
            silence += 1
            if silence >= gap_frames:
                out.append((cur[0], cur[1]))
                cur, run = None, 0
    if cur is not None:
        out.append((cur[0], cur[1]))
    return [c for c in out if c[1] - c[0] >= 5]


def align(chunks: list[list[str]], lines: list[list[str]]) -> list[int]:
    """Monotone assignment of chunks to lines (-1: none) maximising the fuzzy word-match score."""
    n, m = len(chunks), len(lines)
    score = np.array([[_chunk_score(c, l) if c else 0.0 for l in lines] for c in chunks]).reshape(n, m)
    dp = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            dp[i, j] = max(dp[i, j - 1], dp[i - 1, j] + max(0.0, score[i - 1, j - 1]))
    out = [-1] * n
    i, j = n, m
    while i > 0 and j > 0:
        if dp[i, j] == dp[i, j - 1]:
            j -= 1
        else:
            if score[i - 1, j - 1] > 0:
                out[i - 1] = j - 1
            i -= 1
    return out


def getgoing_turns(quick: bool, vad_model: SileroModel) -> tuple[list[Stream], list[dict], dict[str, int]]:
    from agent.services.stt import WhisperTranscriber
    from agent.services.stt_config import SttConfig

    stt = WhisperTranscriber(SttConfig(prompt=""))
    calls = sorted((DATA / "getgoing").glob("*.json"))[: 10 if quick else None]
    streams: list[Stream] = []
    dump: list[dict] = []
    stats = {"calls": 0, "user_lines": 0, "by_words": 0, "by_position": 0, "dropped_spread": 0}
    for path in calls:
        history = json.loads(path.read_text())["history"]
        users = [line[5:].strip() for line in history if line.startswith("USER")]
        audio_path = path.with_suffix(".opus")
        if not users or not audio_path.exists():
            continue
        stats["calls"] += 1
        stats["user_lines"] += len(users)
        y = phone16(load8k(audio_path))
        chunks = vad_chunks(vad_probs(y, vad_model))
        texts = []
        for a, b in chunks:
            seg = y[max(0, a * FRAME_SAMPLES - 3200) : b * FRAME_SAMPLES + 3200]
            texts.append(stt.transcribe(float_to_pcm16(seg)).text)
        assign = align([_words(t) for t in texts], [_words(u) for u in users])
        how = {j: "words" for j in assign if j >= 0}
        for j in range(len(users)):  # a USER line nothing matched: the lone chunk between its neighbours
            if j in how:
                continue
            prev = max((i for i, k in enumerate(assign) if 0 <= k < j), default=-1)
            nxt = min((i for i, k in enumerate(assign) if k > j), default=len(chunks))
            if nxt - prev == 2 and assign[prev + 1] == -1:
                assign[prev + 1] = j
                how[j] = "position"
        for j, kind in sorted(how.items()):
            idx = [i for i, k in enumerate(assign) if k == j]
            if any((chunks[b][0] - chunks[a][1]) * FRAME_MS / 1000 > MAX_TURN_GAP_S for a, b in zip(idx, idx[1:])):
                stats["dropped_spread"] += 1  # one short answer matched twice, seconds apart: ambiguous
                continue
            first, last = idx[0], idx[-1]
            start_s, end_s = chunks[first][0] * FRAME_MS / 1000, chunks[last][1] * FRAME_MS / 1000
            before = chunks[first - 1][1] * FRAME_MS / 1000 + 0.05 if first > 0 else 0.0
            after = chunks[last + 1][0] * FRAME_MS / 1000 - 0.05 if last + 1 < len(chunks) else len(y) / SAMPLE_RATE
            r0 = max(before, start_s - 1.0)
            r1 = min(after, end_s + TRAIL_S)
            region = y[int(r0 * SAMPLE_RATE) : int(r1 * SAMPLE_RATE)]
            region = np.concatenate([region, np.zeros(max(0, int((end_s + TRAIL_S - r1) * SAMPLE_RATE)), np.float32)])
            stats["by_" + ("words" if kind == "words" else "position")] += 1
            name = f"{path.stem[:8]}-{j}"
            streams.append(Stream(name, "getgoing", region, start_s - r0, end_s - r0))
            dump.append({"stream": name, "call": path.stem, "user_line": users[j], "matched_by": kind,
                         "chunks": [[round(chunks[i][0] * 0.02, 2), round(chunks[i][1] * 0.02, 2), texts[i]] for i in range(first, last + 1)],
                         "start_s": round(start_s, 2), "end_s": round(end_s, 2), "next_speech_s": round(after + 0.05, 2)})
    return streams, dump, stats


# --- reporting -------------------------------------------------------------------------------

def evaluate(tracks: dict[str, list[Track]], policies: Iterable[Policy], prob: ModelCache) -> dict[tuple[str, Policy], Score]:
    scores: dict[tuple[str, Policy], Score] = {}
    for policy in policies:
        for set_name, ts in tracks.items():
            s = Score()
            for t in ts:
                s.add(t, *simulate(t, policy, prob))
            scores[set_name, policy] = s
    return scores


def model_accuracy(tracks: list[Track], prob: ModelCache) -> tuple[list[float], list[float]]:
    complete, incomplete = [], []
    for t in tracks:
        complete.append(prob(t, t.first_onset, min(len(t.probs), t.final_end + 10)))
        incomplete += [prob(t, t.first_onset, a + 10) for a, b in t.pauses if b - a >= 10]
    return complete, incomplete


def time_inference(model: TurnEndModel, audio: np.ndarray, n: int) -> np.ndarray:
    """ms per ``probability`` call (features + ONNX) on the same audio, after 5 warm-up calls."""
    for _ in range(5):
        model.probability(audio)
    out = []
    for _ in range(max(1, n)):
        t = time.perf_counter()
        model.probability(audio)
        out.append((time.perf_counter() - t) * 1000)
    return np.array(out)


def fmt(v: float) -> str:
    return "-" if v != v else f"{v:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small subset (5 sentences, 6 digit strings, 10 calls)")
    ap.add_argument("--sets", default="noizeus,fsdd,getgoing")
    ap.add_argument("--dump-turns", type=Path, help="write the GetGoing turns derived from the calls (JSON)")
    ap.add_argument("--json", type=Path, help="write every policy's numbers (JSON)")
    ap.add_argument("--cache", type=Path, help="keep the model's probabilities in this JSON file between runs")
    ap.add_argument("--timing-calls", type=int, default=200, help="timed inferences on one 8 s turn, after the evaluation")
    args = ap.parse_args()
    wanted = set(args.sets.split(","))
    t0 = time.time()
    load0 = os.getloadavg()[0]
    vad_model = SileroModel()
    turn_model = TurnEndModel()
    prob = ModelCache(turn_model, args.cache)

    streams: list[Stream] = []
    if "noizeus" in wanted:
        streams += noizeus_streams(args.quick)
    if "fsdd" in wanted:
        streams += fsdd_streams(args.quick)
    gg_stats: dict[str, int] = {}
    if "getgoing" in wanted:
        gg, dump, gg_stats = getgoing_turns(args.quick, vad_model)
        streams += gg
        if args.dump_turns:
            args.dump_turns.write_text(json.dumps(dump, indent=1))
    tracks: dict[str, list[Track]] = {}
    dropped = 0
    for s in streams:
        t = make_track(s, vad_model)
        if t is None:
            dropped += 1
            continue
        tracks.setdefault(s.set, []).append(t)
    print(f"streams: {', '.join(f'{k} {len(v)}' for k, v in tracks.items())}; VAD never opened on {dropped}", file=sys.stderr)
    if gg_stats:
        print(f"getgoing: {gg_stats}", file=sys.stderr)

    policies = BASELINES + LONG_FIXED + [PIPECAT_DEFAULT] + SHORTENING + GRID
    scores = evaluate(tracks, policies, prob)
    sets = list(tracks)

    def worst_cut(p: Policy) -> float:
        return max(scores[s, p].cut_pct for s in sets)

    def speed(p: Policy) -> tuple[float, float]:
        """(slowest set's median, mean of the sets' p95) of the silence before a finished turn is taken."""
        return (max(scores[s, p].median() for s in sets), float(np.mean([scores[s, p].p95() for s in sets])))

    meeting = sorted((p for p in GRID if worst_cut(p) <= 3.0), key=speed)
    best = meeting[0] if meeting else None
    fast = [p for p in GRID if speed(p)[0] <= 300]  # no set's median slower than today's 300 ms
    fast_pick = min(fast, key=lambda p: (worst_cut(p), speed(p))) if fast else None
    safest = min(GRID, key=lambda p: (worst_cut(p), speed(p)))
    frontier: list[Policy] = []  # fastest policy at each level of worst-set cut rate
    for p in sorted(policies, key=lambda p: (speed(p), worst_cut(p))):
        if not frontier or worst_cut(p) < worst_cut(frontier[-1]):
            frontier.append(p)
    picks: dict[Policy | None, str] = {}
    for p, why in ((best, "meets <= 3 % on every set, fastest"), (fast_pick, "fewest cuts with every median <= 300 ms"),
                   (safest, "fewest cuts overall")):
        picks[p] = f"{picks[p]}; {why}" if p in picks else why

    print(f"\n### Policies per set (G.711 mu-law, Silero VAD 20 ms frames{', quick subset' if args.quick else ''})\n")
    print("| set | policy | finished turns | taken after: median / p95 ms | unfinished pauses taken as finished | split turns |")
    print("|---|---|---|---|---|---|")
    same_long = [fixed(p.s_long) for p in (best, safest) if p is not None]  # the plain silence it falls back to
    picks.setdefault(SHIPPED, "Bedside's turn.end_model default")
    shown = list(dict.fromkeys(BASELINES + [PIPECAT_DEFAULT] + [p for p in picks if p is not None] + same_long))
    for s in sets:
        for p in shown:
            sc = scores[s, p]
            mark = f" ({picks[p]})" if p in picks else ""
            never = f" ({sc.never_taken} never closed)" if sc.never_taken else ""
            never += f" ({sc.not_reopened} lost after a cut)" if sc.not_reopened else ""
            if p.threshold is not None and sc.delays_ms:
                never += f", {100 * np.mean(np.array(sc.delays_ms) < frames(p.s_long) * FRAME_MS):.0f} % before S_long"
            print(f"| {s} | {p.name}{mark} | {len(sc.delays_ms)}{never} | {fmt(sc.median())} / {fmt(sc.p95())} | "
                  f"{sc.cut_pct:.1f} % ({sc.pauses_cut}/{sc.pauses}) | {sc.split_pct:.1f} % ({sc.streams_cut}/{sc.streams}) |")

    print(f"\n### Trade-off: the fastest policy at each worst-set cut rate ({len(policies)} policies; "
          f"{len(meeting)} of {len(GRID)} model policies meet <= 3 % on every set)\n")
    print("| policy | slowest set's median ms | mean p95 ms | worst cut % | "
          + " | ".join(f"{s}: median/p95, cut %" for s in sets) + " |")
    print("|---|---|---|---|" + "---|" * len(sets))
    for p in frontier:
        med, p95 = speed(p)
        cells = " | ".join(f"{fmt(scores[s, p].median())}/{fmt(scores[s, p].p95())}, {scores[s, p].cut_pct:.1f}" for s in sets)
        print(f"| {p.name} | {med:.0f} | {p95:.0f} | {worst_cut(p):.1f} | {cells} |")

    print("\n### Smart Turn alone (probability > 0.5; complete = end of turn + 200 ms, incomplete = pause + 200 ms)\n")
    print("| set | complete: n, scored complete | incomplete: n, scored incomplete | balanced accuracy |")
    print("|---|---|---|---|")
    for s in sets:
        c, i = model_accuracy(tracks[s], prob)
        tpr = float(np.mean(np.array(c) > 0.5)) if c else float("nan")
        tnr = float(np.mean(np.array(i) <= 0.5)) if i else float("nan")
        print(f"| {s} | {len(c)}, {100 * tpr:.1f} % | {len(i)}, {100 * tnr:.1f} % | {100 * np.nanmean([tpr, tnr]):.1f} % |")

    prob.save()
    load1 = os.getloadavg()[0]
    during = np.array(prob.times_ms)
    turn = max((t for ts in tracks.values() for t in ts), key=lambda t: t.final_end - t.first_onset)
    timed = time_inference(turn_model, turn.stream.audio[: turn.final_end * FRAME_SAMPLES], args.timing_calls)
    run_line = (f"during the run mean {during.mean():.1f} ms, p95 {np.percentile(during, 95):.1f} ms over {during.size} calls"
                if during.size else "no uncached calls during the run")
    print(f"\nSmart Turn inference (features + ONNX, 1 thread, 8 s window): mean {timed.mean():.1f} ms, "
          f"p95 {np.percentile(timed, 95):.1f} ms ({timed.size} calls after the run, load average {os.getloadavg()[0]:.1f}); "
          f"{run_line} (load average {load0:.1f} -> {load1:.1f}); wall {time.time() - t0:.0f} s")
    ms = timed
    for p, why in picks.items():
        if p is not None:
            recheck = f"re-check every {p.recheck} ms" if p.recheck else "no re-check"
            print(f"{why}: {p.name} (S_short {p.s_short} ms, threshold {p.threshold}, {recheck}, S_long {p.s_long} ms): "
                  f"worst cut {worst_cut(p):.1f} %, slowest median {speed(p)[0]:.0f} ms")
    if best is None:
        print("no model policy keeps unfinished pauses taken as finished <= 3 % on every set")
    if args.json:
        args.json.write_text(json.dumps({
            "sets": {s: len(tracks[s]) for s in sets},
            "getgoing": gg_stats,
            "policies": [{"policy": p.name, **asdict(p), **{s: {"median_ms": scores[s, p].median(), "p95_ms": scores[s, p].p95(),
                          "cut_pct": scores[s, p].cut_pct, "pauses": scores[s, p].pauses, "split_pct": scores[s, p].split_pct,
                          "unmapped_cuts": scores[s, p].unmapped_cuts, "never_closed": scores[s, p].never_taken,
                          "lost_after_cut": scores[s, p].not_reopened} for s in sets}} for p in policies],
            "inference_ms": {"mean": float(ms.mean()), "p95": float(np.percentile(ms, 95)), "n": int(ms.size)},
        }, indent=1))


if __name__ == "__main__":
    main()
