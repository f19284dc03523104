"""Train and evaluate the audio embedding (``bedside emotion train --only embedding``).

A two-layer network on the cached RAVDESS features (:mod:`emotion.training.ravdess_features`):
features -> 256 (GELU) -> 64, L2-normalised; trained with a cosine classifier over the eight
emotions (scale 16, label smoothing 0.1) plus an intensity target, so that angle = manner of
speaking. Evaluated as retrieval: for every clip of a held-out actor, precision@10 of clips with
the same emotion among the other held-out actors' clips (never the same speaker)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotion.models.base import WEIGHTS_DIR, save_weights
from emotion.models.embedding import EmbeddingModel
from emotion.speech_features import FEATURE_VERSION
from emotion.training.common import progress
from emotion.training.data import RAVDESS_EMOTIONS, shared_root
from emotion.training.prosody import DATA_CARD, held_out_segments
from emotion.training.ravdess_features import CV_FOLDS, HELD_OUT_ACTORS, SEED, RavdessFeatures, load_or_extract

HIDDEN, DIM, EPOCHS, BATCH, SCALE = 256, 64, 60, 64, 16.0


class _Net(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.3)
        self.l1, self.l2 = nn.Linear(features, HIDDEN), nn.Linear(HIDDEN, DIM)
        self.classes = nn.Parameter(torch.randn(len(RAVDESS_EMOTIONS), DIM) * 0.1)
        self.intensity = nn.Linear(DIM, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e = F.normalize(self.l2(self.drop(F.gelu(self.l1(self.drop(x))))), dim=1)
        return e, SCALE * e @ F.normalize(self.classes, dim=1).T, self.intensity(e)[:, 0]


def _fit(feats: RavdessFeatures, seed: int = SEED) -> dict[str, np.ndarray]:
    torch.manual_seed(seed)
    mean, scale = feats.features.mean(axis=0), feats.features.std(axis=0) + 1e-5
    x = torch.tensor((feats.features - mean) / scale, dtype=torch.float32)
    y = torch.tensor(feats.emotion)
    strong = torch.tensor(feats.strong, dtype=torch.float32)
    net = _Net(x.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH):
            batch = order[i : i + BATCH]
            _, logits, intensity = net(x[batch])
            loss = F.cross_entropy(logits, y[batch], label_smoothing=0.1)
            loss = loss + 0.3 * F.binary_cross_entropy_with_logits(intensity, strong[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {
        "mean": mean, "scale": scale,
        "w1": net.l1.weight.detach().numpy(), "b1": net.l1.bias.detach().numpy(),
        "w2": net.l2.weight.detach().numpy(), "b2": net.l2.bias.detach().numpy(),
    }


def precision_at_10(vectors: np.ndarray, emotion: np.ndarray, actor: np.ndarray) -> float:
    """Mean over queries of the share of same-emotion clips among the 10 nearest from other actors."""
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    sim = v @ v.T
    sim[actor[:, None] == actor[None, :]] = -np.inf
    top = np.argsort(-sim, axis=1)[:, :10]
    return float((emotion[top] == emotion[:, None]).mean())


def _model(arrays: dict[str, np.ndarray]) -> EmbeddingModel:
    return EmbeddingModel(arrays, {}, features=None)  # type: ignore[arg-type]  # features unused for embed_features


def cross_validate(feats: RavdessFeatures) -> dict[str, float]:
    scores: dict[str, list[float]] = {"clean": [], "phone": []}
    for fold in progress(CV_FOLDS, "embedding: CV"):
        test = np.isin(feats.actor, fold)
        model = _model(_fit(feats.select(~test)))
        for condition, phone in (("clean", False), ("phone", True)):
            rows = test & (feats.crop == 0) & (feats.phone == phone) & ~feats.augmented
            vectors = model.embed_features(feats.features[rows])
            scores[condition].append(precision_at_10(vectors, feats.emotion[rows], feats.actor[rows]))
    return {k: round(float(np.mean(v)), 4) for k, v in scores.items()}


def train(root: Path | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    root = root or shared_root()
    torch.set_num_threads(2)
    feats = load_or_extract(root)
    dev = feats.select(~np.isin(feats.actor, HELD_OUT_ACTORS))
    cv = cross_validate(dev)
    arrays = {k: v.astype(np.float32) for k, v in _fit(dev).items()}
    meta: dict[str, Any] = {
        "model": "embedding",
        "dim": DIM,
        "features": FEATURE_VERSION,
        "head": f"{HIDDEN}-GELU-{DIM}, L2-normalised; cosine classifier (scale {SCALE}) + intensity, {EPOCHS} epochs",
        **DATA_CARD,
        "cv": {"folds": [list(f) for f in CV_FOLDS], "precision_at_10": cv},
    }
    out = out_dir or WEIGHTS_DIR
    save_weights("embedding", arrays, meta, out)
    meta["held_out"] = evaluate(out, root)["held_out"]
    meta["seconds"] = round(time.perf_counter() - started, 1)
    save_weights("embedding", arrays, meta, out)
    return meta


def evaluate(directory: Path | None = None, root: Path | None = None) -> dict[str, Any]:
    """P@10 of the committed embedding on held-out actors 21-24, through the real inference path."""
    from emotion.training.data import ravdess_clips

    root = root or shared_root()
    torch.set_num_threads(1)
    model = EmbeddingModel.load(directory)
    clips = [c for c in ravdess_clips(root) if c.actor in HELD_OUT_ACTORS]
    clean, phone, labels, _ = held_out_segments(root)
    actors = np.array([c.actor for c in clips])
    held = {}
    for condition, segments in (("clean", clean), ("phone", phone)):
        vectors = np.array([model.embed(x) for x in progress(segments, f"embedding: held-out {condition}")])
        held[condition] = {"precision_at_10": round(precision_at_10(vectors, labels, actors), 4)}
    return {"held_out": held}


def tables(meta: dict[str, Any], evaluation: dict[str, Any] | None = None) -> str:
    held = (evaluation or meta)["held_out"]
    return "\n".join([
        "| embedding (P@10, same emotion, other speakers; chance ~0.13) | clean | G.711 phone channel |",
        "|---|---|---|",
        f"| 5-fold CV, actors 1-20 (gallery: the fold's other 3 actors) | {meta['cv']['precision_at_10']['clean']:.3f} "
        f"| {meta['cv']['precision_at_10']['phone']:.3f} |",
        f"| held-out actors 21-24 (gallery: the other 3 held-out actors) | {held['clean']['precision_at_10']:.3f} "
        f"| {held['phone']['precision_at_10']:.3f} |",
    ])

