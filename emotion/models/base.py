"""What every emotion model shares: one verb, ``score(x) -> {name: score}``, and its weights on disk.

Weights are committed under ``emotion/models/weights/`` as ``<model>.npz`` (plain arrays, loaded
with ``allow_pickle=False``: no code runs when a model loads) beside ``<model>.json`` (labels,
feature settings and the evaluation the model card quotes). Inference never imports the
training stack (scikit-learn): trained heads are exported to arrays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class ModelLoadError(RuntimeError):
    """Weights missing or unreadable; the message says which file and how to rebuild it."""


class TextInputError(ValueError):
    """Text that cannot be scored (not a string, or longer than the model's limit)."""


@runtime_checkable
class EmotionModel(Protocol):
    name: str
    labels: tuple[str, ...]

    def score(self, x: Any) -> dict[str, float]:
        """2-s 16 kHz PCM (bytes/int16/float) for audio models, a string for language."""
        ...


def weights_path(name: str, suffix: str, directory: Path | None = None) -> Path:
    return (directory or WEIGHTS_DIR) / f"{name}{suffix}"


def load_weights(name: str, directory: Path | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, metadata) of a committed model; a clear ModelLoadError if either file is missing."""
    arrays_path, meta_path = weights_path(name, ".npz", directory), weights_path(name, ".json", directory)
    for path in (arrays_path, meta_path):
        if not path.is_file():
            raise ModelLoadError(f"{path} is missing: rebuild it with `bedside emotion train --only {name}`")
    try:
        with np.load(arrays_path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {arrays_path.name}/{meta_path.name}: {exc}") from None
    return arrays, meta


def save_weights(name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any], directory: Path | None = None) -> Path:
    """Write ``<name>.npz`` (float16 where lossless enough is the caller's choice) and ``<name>.json``."""
    directory = directory or WEIGHTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(weights_path(name, ".npz", directory), **arrays)
    weights_path(name, ".json", directory).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return weights_path(name, ".npz", directory)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def as_scores(labels: tuple[str, ...] | list[str], values: np.ndarray) -> dict[str, float]:
    return {label: float(v) for label, v in zip(labels, values)}
