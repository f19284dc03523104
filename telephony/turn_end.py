"""Has the caller finished their turn? Smart Turn v3.2, a learned end-of-turn model.

A fixed VAD silence cannot tell "My date of birth is ... [pause] ... March third" from a finished
sentence: 300 ms of silence is both too slow for a finished turn and too short for a caller who
is thinking. Smart Turn v3.2 (Daily, BSD-2-Clause) listens to the *audio* of the turn so far --
intonation, a trailing "and", a cut-off word -- and returns the probability that it is complete.
It is a Whisper-tiny-sized encoder with a classification head, 8.7 MB of ONNX, CPU only.

The ONNX file and the numpy feature code ship inside the ``pipecat-ai`` wheel (installed
``--no-deps``, like silero-vad); both are found with ``find_spec`` and loaded by file path, so
``pipecat`` itself (whose ``__init__`` pulls in loguru, aiohttp, ...) is never imported. The
preprocessing is pipecat's ``LocalSmartTurnAnalyzerV3._predict_endpoint`` exactly: the last 8 s
of 16 kHz float audio, zero-padded at the *start* when shorter, Whisper log-mel features of the
waveform normalised to zero mean / unit variance (``compute_whisper_log_mel_features``, loaded
from the wheel), one sigmoid output; > 0.5 means complete.

One ``TurnEndModel`` (one ``InferenceSession``, loaded by the server when ``turn.end_model`` is
``smart_turn``) serves every call: ``run`` is thread-safe and
holds no per-call state. One intra-op thread, like ``SileroModel``: two calls asking at once
then use both cores instead of fighting over them.

Measured on the 2-core dev box, 1 thread, features included (numpy, ~5 ms of it): mean 33-39 ms,
p50 35 ms, p95 36-51 ms per call on a quiet box; mean 78 ms, p95 127 ms while a latency benchmark
loaded both cores. The input is always 8 s, so the cost does not depend on the length of the turn.

The call path asks it at each pause (agent/call/turn_end.py, ``turn.end_model``). Measured on G.711
telephone audio (docs/turn_end.md, ``scripts/eval_turn_end.py``): no policy combining it with VAD
silence kept unfinished turns taken as finished at or under 3 % while taking finished turns faster than
the fixed 300 ms silence; 200 ms into a pause it reads only 21-48 % of the test sets' unfinished pauses
as unfinished (published: 88.9 % accuracy on mu-law).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import cast

import numpy as np

from telephony.audio import SAMPLE_RATE

WINDOW_S = 8  # the model sees the last 8 s of the turn
WINDOW_SAMPLES = WINDOW_S * SAMPLE_RATE
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
_PACKAGE = "pipecat"
_PACKAGE_DIR = ("audio", "turn", "smart_turn")  # inside the pipecat package
_INSTALL_HINT = "pip install --no-deps pipecat-ai==1.14.0 (scripts/install.sh does)"

FeatureFn = Callable[[np.ndarray], np.ndarray]


def smart_turn_dir() -> Path:
    """``pipecat/audio/turn/smart_turn`` of the installed wheel, found without importing pipecat."""
    spec = importlib.util.find_spec(_PACKAGE)  # a top-level find_spec executes nothing
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"Smart Turn model: pipecat-ai is not installed ({_INSTALL_HINT})")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*_PACKAGE_DIR)


def smart_turn_model_path() -> Path:
    """The Smart Turn v3.2 ONNX file shipped in the pipecat-ai wheel."""
    path = smart_turn_dir() / "data" / MODEL_FILE
    if not path.is_file():
        raise RuntimeError(f"Smart Turn model missing: {path} ({_INSTALL_HINT})")
    return path


def load_feature_function(directory: Path | None = None) -> FeatureFn:
    """pipecat's numpy Whisper log-mel code (``_whisper_features.py``), loaded by file path.

    Returns ``f(audio_8s) -> float32 (80, 800)`` with ``do_normalize=True``, as pipecat calls it."""
    path = (directory or smart_turn_dir()) / "_whisper_features.py"
    if not path.is_file():
        raise RuntimeError(f"Smart Turn feature code missing: {path} ({_INSTALL_HINT})")
    spec = importlib.util.spec_from_file_location("bedside_smart_turn_features", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports numpy only
    compute = module.compute_whisper_log_mel_features

    def features(audio: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, compute(audio, do_normalize=True))

    return features


def last_window(pcm16k: bytes | np.ndarray) -> np.ndarray:
    """16 kHz audio -> float32 of exactly 8 s: the last 8 s, or zeros in front of shorter audio.

    ``bytes`` and integer arrays are int16 PCM (scaled by 1/32768); float arrays are taken as is."""
    if isinstance(pcm16k, (bytes, bytearray, memoryview)):
        x = np.frombuffer(pcm16k, dtype="<i2", count=len(pcm16k) // 2).astype(np.float32) / 32768.0
    else:
        a = np.asarray(pcm16k)
        if a.ndim != 1:
            raise ValueError(f"turn audio must be 1-D mono, got shape {a.shape}")
        x = a.astype(np.float32) / 32768.0 if np.issubdtype(a.dtype, np.integer) else a.astype(np.float32)
    x = np.nan_to_num(x[-WINDOW_SAMPLES:])
    if x.size < WINDOW_SAMPLES:
        x = np.concatenate((np.zeros(WINDOW_SAMPLES - x.size, dtype=np.float32), x))
    return x


class TurnEndModel:
    """One Smart Turn v3.2 session shared by all calls (stateless: the whole turn goes in each time)."""

    def __init__(self, path: str | Path | None = None, features: FeatureFn | None = None, threads: int = 1) -> None:
        import onnxruntime as ort  # deferred like SileroModel: importing this module stays cheap

        self.path = Path(path) if path is not None else smart_turn_model_path()
        if not self.path.is_file():
            raise RuntimeError(f"Smart Turn model missing: {self.path} ({_INSTALL_HINT})")
        self._features = features or load_feature_function()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name  # "input_features"

    def features(self, pcm16k: bytes | np.ndarray) -> np.ndarray:
        """The model's input for this audio: float32 (1, 80, 800)."""
        return self._features(last_window(pcm16k))[np.newaxis]

    def probability(self, pcm16k: bytes | np.ndarray) -> float:
        """Probability that the turn is complete, from the turn's 16 kHz mono audio up to now
        (its last 8 s are used). Silence and garbage give a number too, never an exception."""
        out = self._session.run(None, {self._input: self.features(pcm16k)})[0]
        p = float(np.asarray(out).reshape(-1)[0])
        return min(max(p, 0.0), 1.0) if np.isfinite(p) else 0.0
