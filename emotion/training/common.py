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
