"""Experiment (not shipped): does training Whisper's upper encoder layers on EmoGator lift the
burst meaning beyond frozen, pooled states?

``python -m emotion.training.burst_finetune [--from-layer 2] [--epochs 8] [--frozen] [--device cpu]
[--json FILE]`` fits on EmoGator contributor groups 2-5 (clean) and reports top-1/top-3 on group
1 after every epoch. Group 0, the held-out group of the shipped numbers, is never read: this
chooses a direction, it does not measure a model.

The network: Whisper tiny.en's encoder up to layer ``from_layer - 1`` stays frozen (its outputs
are computed once and cached, ``cache_dir()/emogator-frames``); layers ``from_layer``..3 start
from tiny.en's weights and are trained (or, with ``--frozen``, run as they are); their last output
is pooled by mean, standard deviation and one learned attention query, beside the frozen layers'
pooled mean and std (what the shipped head reads), into the shipped head's shape (dropout,
512 ReLU, dropout, 30 logits). Audio as the shipped features see it: levelled to -26 dBFS,
padded to 2 s (:mod:`emotion.training.emogator`).

Measured here (2 cores, 2026-12-05; docs/emotion-models.md, section 2): layer 2 run as shipped
with attention pooling 0.333 top-1, layer 2 trained 0.339, layers 2-3 trained 0.330 (over-fitted);
the shipped head's features reach 0.324 on the same group. See the model card for the conclusion."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from emotion.models.burst_labels import EMOGATOR_CATEGORIES
from emotion.training import emogator

VALIDATION_GROUP = 1
ENCODER_LAYERS = 4  # tiny.en
FRAMES = 100  # a 2-s segment after the encoder's stride-2 convolution
SEED = 0
BATCH = 64
HEAD_LR = 1e-3
LAYER_LR = 1e-4
WEIGHT_DECAY = 0.05
LABEL_SMOOTHING = 0.1


def _torch():
    import torch

    return torch


def encoder_layer_class():
    """A Whisper encoder layer over a batch (B, frames, width), its weights trainable parameters.

    The arithmetic is :class:`emotion.speech_features.WhisperPooledStates`'s (the test holds them
    equal); that module keeps its weights as buffers and runs one clip at a time for ONNX."""
    torch = _torch()
    from torch import nn
    from torch.nn import functional as F

    class EncoderLayer(nn.Module):
        def __init__(self, weights: dict[str, Any], heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.params = nn.ParameterDict({k.replace("/", "__"): nn.Parameter(torch.as_tensor(v, dtype=torch.float32).clone())
                                            for k, v in weights.items()})
            self.width = self.params["self_attention__layer_norm__gamma"].shape[0]

        def _w(self, name: str):
            return self.params[name.replace("/", "__")]

        def forward(self, x):
            w, d, h, b = self._w, self.width, self.heads, x.shape[0]
            y = F.layer_norm(x, (d,), w("self_attention/layer_norm/gamma"), w("self_attention/layer_norm/beta"))
            qkv = F.linear(y, w("self_attention/linear_0/weight"), w("self_attention/linear_0/bias"))
            q, k, v = qkv.reshape(b, -1, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
            attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, -1, d)
            x = x + F.linear(attended, w("self_attention/linear_1/weight"), w("self_attention/linear_1/bias"))
            y = F.layer_norm(x, (d,), w("ffn/layer_norm/gamma"), w("ffn/layer_norm/beta"))
            hidden = F.gelu(F.linear(y, w("ffn/linear_0/weight"), w("ffn/linear_0/bias")))
            return x + F.linear(hidden, w("ffn/linear_1/weight"), w("ffn/linear_1/bias"))

    return EncoderLayer


def layer_weights(model_bin: Path, index: int) -> tuple[dict[str, np.ndarray], int]:
    """Layer ``index``'s weights (names without the layer prefix) and the head count."""
    from emotion.ct2_weights import read_variables

    raw = read_variables(model_bin, "encoder/")
    prefix = f"encoder/layer_{index}/"
    return {k[len(prefix):]: v.astype(np.float32) for k, v in raw.items() if k.startswith(prefix)}, int(raw["encoder/num_heads"])


def frame_states(from_layer: int, cache: Path | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """Every EmoGator clip (clean): the input of layer ``from_layer`` (n, 100, 384) float16, the
    frozen layers' pooled mean and std (n, from_layer * 768), group and category; cached."""
    import torch

    from emotion.audio import load_audio
    from emotion.speech_features import FEATURE_VERSION, SpeechFeatures, _tiny_en_path
    from emotion.training.common import cache_dir

    clips = emogator.emogator_clips()
    groups = emogator.contributor_groups(clips)
    key = hashlib.sha256(f"{emogator.FEATURE_KEY}|{FEATURE_VERSION}|from-layer-{from_layer}|{len(clips)}".encode()).hexdigest()[:16]
    path = (cache or cache_dir()) / "emogator-frames" / f"{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    encoder = SpeechFeatures(_tiny_en_path(), layers=from_layer, onnx=False)
    frames = np.zeros((len(clips), FRAMES, encoder.width), np.float16)
    pooled = np.zeros((len(clips), from_layer * 2 * encoder.width), np.float32)
    t0 = time.time()
    for i, clip in enumerate(clips):
        x = emogator.pad_segment(emogator.normalise(load_audio(clip.path)))
        with torch.inference_mode():
            states = encoder.encoder.layer_states(encoder.log_mel(x)[:, : 2 * FRAMES][None])
        frames[i] = states[-1].numpy()
        pooled[i] = encoder.encoder.pool(states).numpy()
        if progress and i % 2000 == 0:
            print(f"frame states {i}/{len(clips)} {time.time() - t0:.0f} s", flush=True)
    out = {
        "frames": frames, "pooled": pooled,
        "groups": np.array([groups[c.contributor] for c in clips], np.int64),
        "categories": np.array([EMOGATOR_CATEGORIES.index(c.category) for c in clips], np.int64),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def build_net(from_layer: int, pooled_mean: np.ndarray, pooled_std: np.ndarray, model_bin: Path,
              to_layer: int = ENCODER_LAYERS):
    """Layers ``from_layer``..``to_layer - 1`` (tiny.en's weights) -> mean, std and attention pooling, beside the
    standardised frozen pooled states -> dropout, 512 ReLU, dropout, 30 logits."""
    torch = _torch()
    from torch import nn

    EncoderLayer = encoder_layer_class()

    class MeaningNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers = [EncoderLayer(*layer_weights(model_bin, i)) for i in range(from_layer, to_layer)]
            self.layers = nn.ModuleList(layers)
            width = layers[0].width
            self.register_buffer("p_mean", torch.from_numpy(pooled_mean))
            self.register_buffer("p_std", torch.from_numpy(pooled_std))
            self.norm = nn.LayerNorm(width)
            self.query = nn.Linear(width, 1)
            self.pooled_norm = nn.LayerNorm(2 * width)  # the trained layers' mean and std move while they learn
            self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(pooled_mean.size + 3 * width, 512), nn.ReLU(),
                                      nn.Dropout(0.5), nn.Linear(512, len(EMOGATOR_CATEGORIES)))

        def forward(self, frames, pooled):
            h = frames
            for layer in self.layers:
                h = layer(h)
            z = self.norm(h)
            attention = torch.softmax(self.query(z).squeeze(-1), dim=1)
            parts = [(pooled - self.p_mean) / self.p_std, self.pooled_norm(torch.cat([h.mean(1), h.std(1)], 1)),
                     (attention.unsqueeze(-1) * z).sum(1)]
            return self.head(torch.cat(parts, 1))

    return MeaningNet()


def run(from_layer: int = 2, to_layer: int = ENCODER_LAYERS, epochs: int = 8, frozen: bool = False, device: str = "cpu",
        progress: bool = True) -> dict[str, Any]:
    """Fit on groups 2-5, report group 1 after every epoch (never group 0)."""
    torch = _torch()
    from torch.nn import functional as F

    from emotion.speech_features import _tiny_en_path

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    data = frame_states(from_layer, progress=progress)
    groups, y = data["groups"], data["categories"]
    train = np.flatnonzero((groups != emogator.HELD_OUT_GROUP) & (groups != VALIDATION_GROUP))
    val = np.flatnonzero(groups == VALIDATION_GROUP)
    pooled = data["pooled"]
    mean, std = pooled[train].mean(0), pooled[train].std(0) + 1e-6
    net = build_net(from_layer, mean, std, _tiny_en_path(), to_layer).to(device)
    layer_params = list(net.layers.parameters())
    for p in layer_params:
        p.requires_grad_(not frozen)
    ids = {id(p) for p in layer_params}
    param_groups = [{"params": [p for p in net.parameters() if id(p) not in ids], "lr": HEAD_LR}]
    if not frozen:
        param_groups.append({"params": layer_params, "lr": LAYER_LR})
    opt = torch.optim.AdamW(param_groups, weight_decay=WEIGHT_DECAY)
    steps = epochs * math.ceil(len(train) / BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in param_groups], total_steps=steps, pct_start=0.1)

    def batch(idx: np.ndarray):
        idx = np.sort(idx)
        return (torch.from_numpy(data["frames"][idx].astype(np.float32)).to(device),
                torch.from_numpy(pooled[idx]).to(device), torch.from_numpy(y[idx]).to(device))

    def validate() -> dict[str, float]:
        net.eval()
        logits = []
        with torch.no_grad():
            for i in range(0, len(val), 256):
                f, p, _ = batch(val[i : i + 256])
                logits.append(net(f, p).cpu())
        net.train()
        L = torch.cat(logits)
        truth = torch.from_numpy(y[np.sort(val)])
        return {"top1": round(float((L.argmax(1) == truth).float().mean()), 4),
                "top3": round(float((L.topk(3, 1).indices == truth[:, None]).any(1).float().mean()), 4)}

    history = []
    t0 = time.time()
    for epoch in range(epochs):
        total = 0.0
        order = rng.permutation(train)
        for i in range(0, len(order), BATCH):
            f, p, t = batch(order[i : i + BATCH])
            loss = F.cross_entropy(net(f, p), t, label_smoothing=LABEL_SMOOTHING)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(t)
        row = {"epoch": epoch, "loss": round(total / len(train), 4), **validate(), "wall_s": round(time.time() - t0, 1)}
        history.append(row)
        if progress:
            print(json.dumps(row), flush=True)
    return {"from_layer": from_layer, "layers_run": list(range(from_layer, to_layer)), "trained": not frozen,
            "train_clips": int(len(train)), "validation_clips": int(len(val)), "validation_group": VALIDATION_GROUP,
            "epochs": history, "best_top1": max(r["top1"] for r in history), "device": device}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-layer", type=int, default=2, choices=range(1, ENCODER_LAYERS))
    ap.add_argument("--to-layer", type=int, default=ENCODER_LAYERS, choices=range(2, ENCODER_LAYERS + 1),
                    help="run layers from-layer..to-layer-1 (tiny.en has 4)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--frozen", action="store_true", help="run the layers as tiny.en ships them (the baseline)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    _torch().set_num_threads(args.threads)
    if args.to_layer <= args.from_layer:
        ap.error("--to-layer must be above --from-layer")
    report = run(args.from_layer, args.to_layer, args.epochs, args.frozen, args.device)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"best top-1 on group {VALIDATION_GROUP}: {report['best_top1']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
