"""Small shared pieces of training and evaluation: cache folder, progress bars, metrics, tables."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm import tqdm

T = TypeVar("T")


def cache_dir() -> Path:
    """Where extracted features are cached between runs (``$BEDSIDE_CACHE`` or ~/.cache/bedside/emotion)."""
    root = Path(os.environ.get("BEDSIDE_CACHE", Path.home() / ".cache" / "bedside")).expanduser()
    path = root / "emotion"
    path.mkdir(parents=True, exist_ok=True)
    return path


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    return tqdm(items, desc=desc, total=total, file=sys.stderr, dynamic_ncols=True, leave=False)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def recalls(cm: np.ndarray) -> np.ndarray:
    return np.diag(cm) / np.maximum(cm.sum(axis=1), 1)


def uar(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> float:
    """Unweighted average recall: the mean of per-class recalls (chance = 1/n)."""
    return float(recalls(confusion(y_true, y_pred, n)).mean())


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(float)
    precision = tp / np.maximum(cm.sum(axis=0), 1)
    recall = tp / np.maximum(cm.sum(axis=1), 1)
    return np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)


def confusion_table(cm: np.ndarray | list, labels: Sequence[str]) -> str:
    """Markdown confusion matrix, rows = truth, columns = prediction."""
    cm = np.asarray(cm)
    head = "| truth \\ predicted | " + " | ".join(labels) + " | recall |"
    rule = "|---" * (len(labels) + 2) + "|"
    rows = [
        f"| {label} | " + " | ".join(str(int(v)) for v in row) + f" | {r:.2f} |"
        for label, row, r in zip(labels, cm, recalls(cm))
    ]
    return "\n".join([head, rule, *rows])


def latency_ms(fn: Callable[[], object], runs: int = 50, warmup: int = 5) -> dict[str, float]:
    """Mean and p95 wall time of ``fn()`` in ms, after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return {"mean_ms": round(float(np.mean(times)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}


def fit_logistic(
    z: np.ndarray, target: np.ndarray, c: float, classes: int | None = None, weight: np.ndarray | None = None,
    max_iter: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """L2-regularised multinomial logistic regression on standardised rows ``z`` (scikit-learn's
    objective: C * the (weighted) sum of cross-entropies + |W|^2 / 2), solved with full-batch L-BFGS
    in torch: seconds where scikit-learn takes minutes on thousands of rows of thousands of
    features. ``target`` is one class index per row (``classes`` of them: a fold may lack one), or
    one probability row per row (soft labels); ``weight`` one weight per row. Returns the (classes, dim) weights and the biases, float32."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(z, np.float32))
    soft = np.ndim(target) == 2
    t = torch.from_numpy(np.asarray(target, np.float32 if soft else np.int64))
    n = t.shape[1] if soft else classes
    per_row = None if weight is None else torch.from_numpy(np.asarray(weight, np.float32))
    w = torch.zeros(n, x.shape[1], requires_grad=True)
    b = torch.zeros(n, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-6, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        ce = torch.nn.functional.cross_entropy(x @ w.T + b, t, reduction="none")
        fit = ce.mean() if per_row is None else (per_row * ce).sum() / len(x)
        loss = fit + (w**2).sum() / (2 * c * len(x))
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def head_logits(head: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """A standardise-then-linear head's logits: ((x - mean) / scale) @ coef.T + intercept."""
    return ((x - head["mean"]) / head["scale"]) @ head["coef"].T + head["intercept"]
