"""Probabilities that mean what they say: temperature scaling, expected calibration error and
reliability diagrams, for every model card.

* :func:`fit_temperature`: one scalar ``T`` for a softmax head (``softmax(logits / T)``), chosen
  to minimise the negative log-likelihood on held-out predictions (Guo et al. 2017). It changes
  how sure the model is, never which class it picks.
* :func:`fit_binary_temperature`: the same for independent sigmoid outputs (multi-label heads).
* :func:`ece`: expected calibration error of the top label (equal-width confidence bins, the
  weighted mean of |accuracy - confidence|); :func:`binary_ece` for sigmoid outputs.
* :func:`reliability` gives the bins, :func:`reliability_table` prints them as markdown and
  :func:`reliability_plot` draws the diagram (matplotlib, training extra) into docs/images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

T_BOUNDS = (0.05, 20.0)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    lp = _log_softmax(np.asarray(logits, np.float64) / temperature)
    return float(-lp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in ``T_BOUNDS`` that minimises held-out NLL of ``softmax(logits / T)``."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels)
    res = minimize_scalar(lambda lt: nll(logits, labels, float(np.exp(lt))), bounds=tuple(np.log(T_BOUNDS)), method="bounded")
    return float(np.exp(res.x))


def _binary_nll(logits: np.ndarray, targets: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, np.float64) / temperature
    return float(np.mean(np.logaddexp(0.0, z) - targets * z))


def fit_binary_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """One T for all sigmoid outputs: minimises the mean binary cross-entropy of ``sigmoid(logits / T)``."""
    logits, targets = np.asarray(logits, np.float64).ravel(), np.asarray(targets, np.float64).ravel()
    res = minimize_scalar(lambda lt: _binary_nll(logits, targets, float(np.exp(lt))), bounds=tuple(np.log(T_BOUNDS)),
                          method="bounded")
    return float(np.exp(res.x))


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    count: int
    confidence: float  # mean predicted probability in the bin
    accuracy: float  # share correct (top label) / share positive (binary)


def _bins(confidence: np.ndarray, correct: np.ndarray, bins: int) -> list[Bin]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        out.append(Bin(float(edges[b]), float(edges[b + 1]), n,
                       float(confidence[sel].mean()) if n else 0.0, float(correct[sel].mean()) if n else 0.0))
    return out


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[Bin]:
    """Top-label reliability of (n, k) probabilities against integer labels."""
    probs = np.asarray(probs, np.float64)
    top = probs.argmax(axis=1)
    return _bins(probs.max(axis=1), (top == np.asarray(labels)).astype(np.float64), bins)


def binary_reliability(p: np.ndarray, targets: np.ndarray, bins: int = 10) -> list[Bin]:
    """Reliability of independent probabilities (every sample x label pair) against 0/1 targets."""
    return _bins(np.asarray(p, np.float64).ravel(), np.asarray(targets, np.float64).ravel(), bins)


def _ece(bins: Sequence[Bin]) -> float:
    total = sum(b.count for b in bins)
    return 0.0 if total == 0 else float(sum(b.count * abs(b.accuracy - b.confidence) for b in bins) / total)


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top label (0 = perfectly calibrated)."""
    return _ece(reliability(probs, labels, bins))


def binary_ece(p: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    return _ece(binary_reliability(p, targets, bins))


def bins_as_dicts(bins: Sequence[Bin]) -> list[dict[str, float]]:
    """JSON-able bins for a model's ``<model>.json`` card."""
    return [{"lo": b.lo, "hi": b.hi, "count": b.count, "confidence": round(b.confidence, 4), "accuracy": round(b.accuracy, 4)}
            for b in bins]


def reliability_table(curves: Mapping[str, Sequence[Bin]]) -> str:
    """Markdown: one row per confidence bin, per curve ``accuracy (n)``; empty bins as ``·``."""
    names = list(curves)
    first = next(iter(curves.values()))
    lines = ["| confidence | " + " | ".join(f"{n}: accuracy (n)" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, b in enumerate(first):
        cells = []
        for n in names:
            c = curves[n][i]
            cells.append(f"{c.accuracy:.2f} ({c.count})" if c.count else "·")
        lines.append(f"| {b.lo:.1f}-{b.hi:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reliability_plot(curves: Mapping[str, Sequence[Bin]], title: str, path: Path) -> Path | None:
    """Draw a reliability diagram (accuracy against confidence per bin, the diagonal is perfect).
    Returns None when matplotlib (training extra) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="perfect")
    for name, bins in curves.items():
        pts = [(b.confidence, b.accuracy) for b in bins if b.count]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=4, linewidth=1.5, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (predicted probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path
