"""RAVDESS as the prosody and embedding heads see it: 2-s crops, clean, through a phone line and
through random recording conditions (level, microphone, room, codec: emotion/training/augment.py),
encoded once into pooled Whisper features and cached (keyed by the feature version).

Split (speaker-independent, whole actors): actors 1-20 train, in five cross-validation folds of
four actors; actors 21-24 (two male, two female) are a fixed held-out fold that no committed
model has seen, used for the model card's held-out scores and the regression tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emotion.audio import SEGMENT_SAMPLES, load_audio
from emotion.speech_features import FEATURE_VERSION, SpeechFeatures
from emotion.training.augment import Augmenter
from emotion.training.channel import PhoneChannel, load_noise_bank
from emotion.training.common import cache_dir, progress
from emotion.training.data import RAVDESS_EMOTIONS, ravdess_clips, shared_root
from telephony.audio import SAMPLE_RATE

HELD_OUT_ACTORS = (21, 22, 23, 24)
CV_FOLDS = tuple(tuple(range(first, first + 4)) for first in (1, 5, 9, 13, 17))
CROPS = 3  # crop 0: centred on the speech (evaluation); 1-2: jittered by up to JITTER_S (training only)
JITTER_S = 0.35
CONDITIONS = ("clean", "phone", "augmented")  # augmented: a random Augmenter chain per crop
SEED = 20261122
AUGMENT_VERSION = "augment-v1"  # bump when emotion/training/augment.py changes what it does


@dataclass(frozen=True)
class RavdessFeatures:
    features: np.ndarray  # (n, dim) float32
    emotion: np.ndarray  # index into RAVDESS_EMOTIONS
    actor: np.ndarray
    strong: np.ndarray  # bool: intensity 02
    clip: np.ndarray  # clip index (same for every crop/condition of a clip)
    crop: np.ndarray
    phone: np.ndarray  # bool: through the phone channel
    augmented: np.ndarray  # bool: through a random recording-condition chain (training rows only)

    def select(self, mask: np.ndarray) -> RavdessFeatures:
        return RavdessFeatures(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def speech_crop(x: np.ndarray, offset_s: float = 0.0) -> np.ndarray:
    """A 2-s window centred on the speech (by frame energy), shifted by ``offset_s``, zero-padded."""
    n = 320
    frames = x[: x.size // n * n].reshape(-1, n)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.nonzero(db > db.max() - 35)[0]
    centre = (loud[0] + loud[-1] + 1) * n // 2 if loud.size else x.size // 2
    start = int(np.clip(centre + offset_s * SAMPLE_RATE - SEGMENT_SAMPLES // 2, 0, max(0, x.size - SEGMENT_SAMPLES)))
    seg = x[start : start + SEGMENT_SAMPLES]
    return np.pad(seg, (0, SEGMENT_SAMPLES - seg.size))


def _cache_key(root: Path) -> str:
    clips = ravdess_clips(root)
    h = hashlib.sha256(f"{FEATURE_VERSION}|{CROPS}|{JITTER_S}|{SEED}|{CONDITIONS}|{AUGMENT_VERSION}|{len(clips)}".encode())
    for c in clips:
        h.update(f"{c.path.name}:{c.path.stat().st_size}".encode())
    return h.hexdigest()[:16]


def load_or_extract(root: Path | None = None, threads: int = 2) -> RavdessFeatures:
    root = root or shared_root()
    path = cache_dir() / f"ravdess-{_cache_key(root)}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            return RavdessFeatures(**{k: npz[k] for k in npz.files})
    feats = extract(root, threads)
    np.savez(path, **{f: getattr(feats, f) for f in feats.__dataclass_fields__})
    return feats


def extract(root: Path, threads: int = 2) -> RavdessFeatures:
    torch.set_num_threads(threads)
    encoder = SpeechFeatures()
    rng = np.random.default_rng(SEED)
    bank = load_noise_bank(root)
    channel = PhoneChannel(bank, rng=np.random.default_rng(SEED + 1))
    augmenter = Augmenter(bank, rng=np.random.default_rng(SEED + 3))
    clips = ravdess_clips(root)
    rows: dict[str, list] = {f: [] for f in RavdessFeatures.__dataclass_fields__}
    for index, clip in enumerate(progress(clips, "prosody: encoding RAVDESS")):
        audio = load_audio(clip.path)
        for crop in range(CROPS):
            segment = speech_crop(audio, 0.0 if crop == 0 else float(rng.uniform(-JITTER_S, JITTER_S)))
            for condition in CONDITIONS:
                if condition == "phone":
                    heard = channel.apply(segment)
                elif condition == "augmented":
                    heard = augmenter.apply(segment)[0]
                else:
                    heard = segment
                rows["features"].append(encoder.features(heard))
                rows["emotion"].append(RAVDESS_EMOTIONS.index(clip.emotion))
                rows["actor"].append(clip.actor)
                rows["strong"].append(clip.strong)
                rows["clip"].append(index)
                rows["crop"].append(crop)
                rows["phone"].append(condition == "phone")
                rows["augmented"].append(condition == "augmented")
    return RavdessFeatures(
        np.asarray(rows["features"], np.float32),
        *(np.asarray(rows[f]) for f in list(RavdessFeatures.__dataclass_fields__)[1:]),
    )
