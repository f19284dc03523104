"""EmoGator vocal bursts (../shared/data/emogator): the clips, a fixed contributor split and their
burst-model features, for the burst model's affect head (emotion/models/burst.py).

Data: 16,020 clips of ~2 s, ``NNNNNN-EE-I.opus`` = contributor, category 01-30
(:data:`emotion.models.burst_labels.EMOGATOR_CATEGORIES`, in EmoGator's order) and take 1-3;
178 contributors who recorded at home on their own microphones. Apache-2.0 (Buhl 2023,
arXiv 2301.00508).

Split (by contributor, never by clip: a contributor's voice and microphone must not be on both
sides). Contributors are ordered by ``sha256("emogator/" + id)`` and dealt round-robin into
``N_GROUPS`` groups: group :data:`HELD_OUT_GROUP` (0) is the fixed HELD-OUT group, never used to
fit or choose anything; groups 1-5 are the cross-validation folds for choosing C and the
temperature. The hash order (not a seeded shuffle of a file listing) is the same on every
machine; the round-robin deal keeps the groups equal in size (178 -> 30/30/30/30/29/29).

Features are exactly what :meth:`BurstModel.features` computes for one 2-s segment: per-window
YAMNet scores and embeddings (3 windows, pooled later) and the pooled Whisper encoder states.
A clip is padded with silence at its end to 2 s (they are 0.98-2.0 s; a burst in a call fills a
2-s window the same way). Each clip is extracted clean (``clean``), through one random recording
condition chain (``aug``: :class:`emotion.training.augment.Augmenter`, seeded per clip; every
held-out clip, take 1 of the others) and, for the held-out group only, through the phone line
alone (``phone``). Before that every clip is levelled to -26 dBFS RMS (:func:`normalise`). Results are cached per
contributor and variant under ``cache_dir()/emogator/<feature key>/``."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotion.audio import SEGMENT_SAMPLES, has_signal, load_audio
from emotion.models.burst_labels import EMOGATOR_CATEGORIES
from emotion.shared_dir import DataMissing, shared_root
from emotion.speech_features import FEATURE_VERSION

N_GROUPS = 6
HELD_OUT_GROUP = 0
CV_GROUPS = tuple(g for g in range(N_GROUPS) if g != HELD_OUT_GROUP)
VARIANTS = ("clean", "aug", "phone")  # phone: held-out group only
HOP_S = 0.975  # YAMNet windows, as the burst model runs them (3 per 2-s segment)
LEVEL_DBFS = -26.0  # every clip's RMS before augmentation (see normalise)
FEATURE_KEY = f"emogator-v1|{FEATURE_VERSION}|yamnet-hop{HOP_S}|pad-end-2s|rms{LEVEL_DBFS}"


@dataclass(frozen=True)
class EmoGatorClip:
    path: Path
    contributor: str  # six digits, as in the file name
    category: str  # an EMOGATOR_CATEGORIES entry
    take: int  # 1..3

    @property
    def key(self) -> str:
        return self.path.stem


def emogator_dir(root: Path | None = None) -> Path:
    path = (root or shared_root()) / "data" / "emogator"
    if not path.is_dir():
        raise DataMissing(f"data set 'emogator' not found at {path}")
    return path


def emogator_clips(root: Path | None = None) -> list[EmoGatorClip]:
    """Every ``NNNNNN-EE-I.opus`` clip, sorted by name; other files are ignored."""
    clips = []
    for path in sorted(emogator_dir(root).glob("*.opus")):
        parts = path.stem.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        category = int(parts[1])
        if not 1 <= category <= len(EMOGATOR_CATEGORIES):
            continue
        clips.append(EmoGatorClip(path, parts[0], EMOGATOR_CATEGORIES[category - 1], int(parts[2])))
    return clips


def contributor_groups(clips: Iterable[EmoGatorClip]) -> dict[str, int]:
    """Contributor -> group: ordered by hash, dealt round-robin (equal-sized groups)."""
    contributors = sorted({c.contributor for c in clips}, key=lambda c: hashlib.sha256(f"emogator/{c}".encode()).hexdigest())
    return {c: i % N_GROUPS for i, c in enumerate(contributors)}


def pad_segment(x: np.ndarray) -> np.ndarray:
    """A clip -> exactly one 2-s segment (silence after a short clip, the first 2 s of a long one)."""
    x = x[:SEGMENT_SAMPLES].astype(np.float32)
    return np.pad(x, (0, SEGMENT_SAMPLES - x.size))


def normalise(x: np.ndarray) -> np.ndarray:
    """RMS to ``LEVEL_DBFS`` (peak at most 0.95). The home recordings' gains are arbitrary (RMS
    -65..-30 dBFS; a fifth would be "no signal" as they are), a phone's AGC levels a caller."""
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    peak = float(np.max(np.abs(x), initial=0.0))
    if rms <= 1e-7:
        return x.astype(np.float32)
    return (x * min(10 ** (LEVEL_DBFS / 20) / rms, 0.95 / peak)).astype(np.float32)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little")


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Features:
    """One row per clip and variant: per-window YAMNet outputs (float16) and pooled Whisper states."""

    keys: np.ndarray  # clip stem
    contributors: np.ndarray
    categories: np.ndarray  # index into EMOGATOR_CATEGORIES
    groups: np.ndarray
    variants: np.ndarray
    chains: np.ndarray  # augmentation chain, "+"-joined ("" for clean)
    signal: np.ndarray  # False: the model would answer "no signal" (features are zeros)
    scores: np.ndarray  # (n, 3, 521) float16
    embs: np.ndarray  # (n, 3, 1024) float16
    speech: np.ndarray  # (n, dim) float32

    def select(self, mask: np.ndarray) -> Features:
        return Features(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    def pooled(self, score_idx: np.ndarray) -> np.ndarray:
        """The burst head's input rows, as ``BurstModel.features`` builds them."""
        from emotion.models.burst import pool_features

        yam = np.stack([pool_features(s.astype(np.float32), e.astype(np.float32), score_idx) for s, e in zip(self.scores, self.embs)])
        return np.hstack([yam, self.speech])


def _cache_path(cache: Path, contributor: str, variant: str) -> Path:
    digest = hashlib.sha256(FEATURE_KEY.encode()).hexdigest()[:16]
    return cache / "emogator" / digest / f"{contributor}-{variant}.npz"


def _extract_one(clips: list[EmoGatorClip], variant: str, net, encoder, bank: list[np.ndarray], pool: ThreadPoolExecutor):
    from emotion.training.augment import Augmenter

    rows: dict[str, list] = {k: [] for k in ("keys", "chains", "signal", "scores", "embs", "speech")}
    for clip in clips:
        x = pad_segment(normalise(load_audio(clip.path)))
        chain: tuple[str, ...] = ()
        if variant != "clean":
            aug = Augmenter(bank, np.random.default_rng(_seed("emogator", variant, clip.key)))
            x, chain = aug.apply(x, ("phone",) if variant == "phone" else None)
            x = pad_segment(x)
        ok = has_signal(x)
        if ok:  # YAMNet on this thread, Whisper on the other (the service does the same)
            future = pool.submit(encoder.features, x)
            s, e = net.frames(x, HOP_S)
            w = future.result()
            if s.shape[0] != 3:
                raise RuntimeError(f"{clip.key}: expected 3 YAMNet windows, got {s.shape[0]}")
        else:
            s, e, w = np.zeros((3, 521)), np.zeros((3, 1024)), np.zeros(encoder.dim, np.float32)
        rows["keys"].append(clip.key)
        rows["chains"].append("+".join(chain))
        rows["signal"].append(ok)
        rows["scores"].append(s.astype(np.float16))
        rows["embs"].append(e.astype(np.float16))
        rows["speech"].append(np.asarray(w, np.float32).reshape(-1))
    return {k: np.array(v) for k, v in rows.items()}


def _wanted(clip: EmoGatorClip, variant: str, groups: dict[str, int]) -> bool:
    """clean: every clip; aug: every held-out clip, take 1 of the others (time: ~70 ms a clip on a
    shared 2-core machine); phone: held-out clips only."""
    held = groups[clip.contributor] == HELD_OUT_GROUP
    return variant == "clean" or held or (variant == "aug" and clip.take == 1)


def extract(
    clips: list[EmoGatorClip] | None = None,
    cache: Path | None = None,
    root: Path | None = None,
    variants: tuple[str, ...] = VARIANTS,
    progress: bool = True,
) -> Features:
    """Features of every clip in each variant (``phone`` only for the held-out group), cached per
    contributor. Two threads: YAMNet and the Whisper encoder side by side."""
    from emotion import yamnet as yamnet_module
    from emotion.speech_features import SpeechFeatures
    from emotion.training.channel import load_noise_bank
    from emotion.training.common import cache_dir

    clips = clips if clips is not None else emogator_clips(root)
    cache = cache or cache_dir()
    groups = contributor_groups(emogator_clips(root)) if clips else {}
    by_contributor: dict[str, list[EmoGatorClip]] = {}
    for c in clips:
        by_contributor.setdefault(c.contributor, []).append(c)
    net = encoder = bank = None
    parts: list[dict[str, np.ndarray]] = []
    t0, done = time.time(), 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        # every contributor's clean features first, so a partial run is already useful
        jobs = [(v, c) for v in variants for c in sorted(by_contributor) if v != "phone" or groups[c] == HELD_OUT_GROUP]
        for n, (variant, contributor) in enumerate(jobs):
            path = _cache_path(cache, contributor, variant)
            todo = [c for c in by_contributor[contributor] if _wanted(c, variant, groups)]
            if path.is_file():
                with np.load(path, allow_pickle=False) as z:
                    part = {k: z[k] for k in z.files}
                if set(part["keys"]) >= {c.key for c in todo}:
                    keep = np.isin(part["keys"], [c.key for c in todo])
                    part = {k: v[keep] for k, v in part.items()}
                else:
                    part = None
            else:
                part = None
            if part is None:
                if net is None:
                    net, encoder = yamnet_module.YAMNet(num_threads=1), SpeechFeatures()
                    bank = load_noise_bank(root)
                part = _extract_one(todo, variant, net, encoder, bank, pool)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path, **part)
                done += len(todo)
                if progress:
                    rate = (time.time() - t0) / max(done, 1)
                    print(f"emogator features {n + 1}/{len(jobs)} ({variant} {contributor}): {rate * 1000:.0f} ms/clip", flush=True)
            part["variants"] = np.full(len(part["keys"]), variant)
            part["contributors"] = np.full(len(part["keys"]), contributor)
            parts.append(part)
    cat_of = {c.key: EMOGATOR_CATEGORIES.index(c.category) for c in clips}
    cat = lambda keys: np.array([cat_of[k] for k in keys], np.int64)  # noqa: E731
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    if not merged:
        raise DataMissing("no EmoGator clips")
    return Features(
        merged["keys"], merged["contributors"], cat(merged["keys"]),
        np.array([groups[c] for c in merged["contributors"]], np.int64), merged["variants"], merged["chains"],
        merged["signal"].astype(bool), merged["scores"], merged["embs"], merged["speech"],
    )


def main() -> int:
    """``python -m emotion.training.emogator``: extract (and cache) every clip's features."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    t = time.time()
    feats = extract()
    print(f"{len(feats.keys)} rows, {time.time() - t:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
