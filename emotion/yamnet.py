"""YAMNet, the AudioSet sound classifier the vocal-burst model stands on (Apache-2.0, TFLite).

The TFLite file takes exactly one 0.975-s window (15,600 samples at 16 kHz) per ``invoke()``
(its input cannot be resized under XNNPACK), so :meth:`YAMNet.frames` spreads windows evenly
over a clip: the first starts at 0, the last ends at the clip's end, neighbours are at most
``hop_s`` apart; a clip shorter than one window is zero-padded. Each window gives the 521
AudioSet class scores and the 1024-d embedding (the global-average-pooling output, an
intermediate tensor that is only readable with ``experimental_preserve_all_tensors=True``).

The model file is never copied into the repo. It is found, in this order, at
``$BEDSIDE_YAMNET``, ``<model cache>/yamnet/yamnet.tflite`` (``prepare()`` puts a copy there;
the cache is ``$BEDSIDE_MODEL_DIR`` or ``~/.cache/bedside/models``, emotion/model_cache.py) and
``../shared/models/yamnet/yamnet.tflite``."""

from __future__ import annotations

import csv
import math
import os
import shutil
import tempfile
import threading
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from emotion.model_cache import model_cache_dir
from emotion.models.base import ModelLoadError
from emotion.shared_dir import shared_root

YAMNET_ENV = "BEDSIDE_YAMNET"
MODEL_FILE = "yamnet.tflite"
CLASS_MAP_FILE = "yamnet_class_map.csv"
SUBDIR = "yamnet"
RATE = 16_000
WINDOW_SAMPLES = 15_600  # 0.975 s: the model's fixed input
N_CLASSES = 521
EMBEDDING_DIM = 1024
DEFAULT_HOP_S = 0.975  # at most this far between window starts: 3 windows cover a 2-s segment
_EMBEDDING_TENSOR = "yamnet_frames/global_average_pooling2d/Mean"
_SCORES_OUTPUT = "Identity"


def _shared_model_dir() -> Path | None:
    try:
        return shared_root() / "models" / SUBDIR
    except Exception:  # DataMissing: no ../shared beside the repo
        return None


def candidate_paths() -> list[Path]:
    """Where the model file is looked for, in order."""
    paths = []
    env = os.environ.get(YAMNET_ENV)
    if env:
        paths.append(Path(env).expanduser())
    paths.append(model_cache_dir() / SUBDIR / MODEL_FILE)
    shared = _shared_model_dir()
    if shared is not None:
        paths.append(shared / MODEL_FILE)
    return paths


def model_path() -> Path:
    """The first existing YAMNet TFLite file, or a ModelLoadError that says how to provide one."""
    paths = candidate_paths()
    for path in paths:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in paths) or "(nowhere: no $BEDSIDE_YAMNET, no models root, no ../shared)"
    raise ModelLoadError(
        f"YAMNet model {MODEL_FILE} not found (looked at: {looked}). Set ${YAMNET_ENV} to the .tflite file, "
        f"or copy it into the models cache with `python -c 'from emotion.yamnet import prepare; prepare()'` "
        f"(needs ../shared/models/yamnet, or BEDSIDE_SHARED pointing at it)."
    )


def class_map_path(model: Path | None = None) -> Path:
    """The class map beside the model file, else the one in ../shared."""
    model = model or model_path()
    for path in (model.parent / CLASS_MAP_FILE, (_shared_model_dir() or model.parent) / CLASS_MAP_FILE):
        if path.is_file():
            return path
    raise ModelLoadError(f"{CLASS_MAP_FILE} not found beside {model}: copy it there (see emotion.yamnet.prepare)")


@lru_cache(maxsize=4)
def _read_class_names(path: str) -> tuple[str, ...]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = sorted((int(r["index"]), r["display_name"]) for r in csv.DictReader(f))
    names = tuple(name for _, name in rows)
    if len(names) != N_CLASSES:
        raise ModelLoadError(f"{path}: expected {N_CLASSES} classes, found {len(names)}")
    return names


def class_names(model: Path | None = None) -> tuple[str, ...]:
    """The 521 AudioSet display names, in output order."""
    return _read_class_names(str(class_map_path(model)))


def window_starts(n_samples: int, hop_s: float = DEFAULT_HOP_S) -> list[int]:
    """Start samples of the windows covering ``n_samples``: evenly spread, first at 0, last ending
    at the clip's end, at most ``hop_s`` apart (one window, padded, for clips shorter than one)."""
    span = n_samples - WINDOW_SAMPLES
    if span <= 0:
        return [0]
    hop = max(1, int(round(hop_s * RATE)))
    n = math.ceil(span / hop) + 1
    return [int(round(i * span / (n - 1))) for i in range(n)]


class YAMNet:
    """One TFLite interpreter (single-threaded by default); :meth:`frames` is thread-safe."""

    def __init__(self, path: Path | None = None, num_threads: int = 1) -> None:
        self.path = Path(path) if path is not None else model_path()
        if not self.path.is_file():
            raise ModelLoadError(f"YAMNet model {self.path} does not exist")
        self.class_names = class_names(self.path)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelLoadError("ai-edge-litert is not installed (pip install ai-edge-litert==2.3.0)") from exc
        try:
            with warnings.catch_warnings():  # preserve_all_tensors warns it is "for debugging"; we need it
                warnings.simplefilter("ignore", UserWarning)
                self._interp = Interpreter(
                    model_path=str(self.path), num_threads=num_threads, experimental_preserve_all_tensors=True
                )
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ModelLoadError(f"cannot load YAMNet from {self.path}: {exc}") from None
        inp = self._interp.get_input_details()[0]
        if tuple(inp["shape"]) != (1, WINDOW_SAMPLES):
            raise ModelLoadError(f"{self.path}: expected input shape [1, {WINDOW_SAMPLES}], got {inp['shape']}")
        self._input = inp["index"]
        outputs = {d["name"]: d["index"] for d in self._interp.get_output_details()}
        self._scores = outputs.get(_SCORES_OUTPUT)
        tensors = {d["name"]: d["index"] for d in self._interp.get_tensor_details()}
        self._embedding = tensors.get(_EMBEDDING_TENSOR)
        if self._scores is None or self._embedding is None:
            raise ModelLoadError(f"{self.path}: not the expected YAMNet graph (no {_SCORES_OUTPUT} / {_EMBEDDING_TENSOR})")
        self._lock = threading.Lock()

    def window(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(521 scores, 1024 embedding) of one window of at most 15,600 samples (zero-padded)."""
        buf = np.zeros((1, WINDOW_SAMPLES), np.float32)
        w = np.asarray(w, np.float32)[:WINDOW_SAMPLES]
        buf[0, : w.size] = w
        with self._lock:
            self._interp.set_tensor(self._input, buf)
            self._interp.invoke()
            scores = self._interp.get_tensor(self._scores).reshape(-1).copy()
            emb = self._interp.get_tensor(self._embedding).reshape(-1).copy()
        return scores, emb

    def frames(self, x16k: np.ndarray, hop_s: float = DEFAULT_HOP_S) -> tuple[np.ndarray, np.ndarray]:
        """Scores (n, 521) and embeddings (n, 1024) of the windows from :func:`window_starts`."""
        x = np.asarray(x16k, np.float32).reshape(-1)
        out = [self.window(x[s : s + WINDOW_SAMPLES]) for s in window_starts(x.size, hop_s)]
        return np.stack([s for s, _ in out]), np.stack([e for _, e in out])


_shared_instances: dict[tuple[str, int], YAMNet] = {}
_shared_lock = threading.Lock()


def load(path: Path | None = None, num_threads: int = 1) -> YAMNet:
    """A process-wide YAMNet per (file, threads): the interpreter loads once."""
    resolved = Path(path) if path is not None else model_path()
    key = (str(resolved.resolve()), num_threads)
    with _shared_lock:
        if key not in _shared_instances:
            _shared_instances[key] = YAMNet(resolved, num_threads)
        return _shared_instances[key]


def prepare(target_dir: Path | None = None, source_dir: Path | None = None) -> Path:
    """Copy yamnet.tflite and its class map from ../shared into ``target_dir`` (default
    ``<model cache>/yamnet``) for machines without ../shared; returns the model's new path.
    A copy whose size already matches is kept; files are written atomically."""
    target = Path(target_dir) if target_dir is not None else model_cache_dir() / SUBDIR
    source = Path(source_dir) if source_dir is not None else _shared_model_dir()
    if source is None or not (source / MODEL_FILE).is_file():
        raise ModelLoadError(f"no YAMNet to copy: {source or '../shared/models/yamnet'} has no {MODEL_FILE}")
    target.mkdir(parents=True, exist_ok=True)
    for name in (CLASS_MAP_FILE, MODEL_FILE):  # the model last: its presence means "prepared"
        src, dst = source / name, target / name
        if not src.is_file():
            raise ModelLoadError(f"{src} is missing")
        if dst.is_file() and dst.stat().st_size == src.stat().st_size:
            continue
        fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{name}.")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target / MODEL_FILE


__all__ = [
    "EMBEDDING_DIM",
    "N_CLASSES",
    "RATE",
    "WINDOW_SAMPLES",
    "YAMNET_ENV",
    "YAMNet",
    "candidate_paths",
    "class_map_path",
    "class_names",
    "load",
    "model_path",
    "prepare",
    "window_starts",
]
