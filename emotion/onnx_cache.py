"""Torch modules run on ONNX Runtime, exported once per set of weights and cached on disk.

For small transformers on one CPU core, ONNX Runtime runs the same graph about twice as fast as
eager PyTorch (measured in docs/emotion-models.md). ``cached_session`` exports a module the
first time its weights are seen (a couple of seconds; needs the ``onnx`` package) to
``<model cache>/<kind>/<key>.onnx`` (emotion/model_cache.py) and opens an inference session on it; ``scripts/install.sh``
triggers the exports at install. Callers fall back to torch if anything here fails."""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is needed to export, not to run: a SIP worker opens sessions without it
    import torch
    from torch import nn

from emotion.model_cache import model_cache_dir


def weights_key(version: str, *files: Path) -> str:
    """A short content hash of the weight files and the graph version."""
    h = hashlib.sha256(version.encode())
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:20]


def cache_path(kind: str, key: str) -> Path:
    return model_cache_dir() / kind / f"{key}.onnx"


def export(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> None:
    """Write the graph atomically, so a concurrent reader never opens half a file."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(
                module.eval(), example, tmp, input_names=list(input_names), output_names=list(output_names),
                dynamic_axes=dynamic_axes, opset_version=17, dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def session(path: Path, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # parallelism comes from serving requests side by side
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cached_session(
    kind: str,
    key: str,
    build: Callable[[], nn.Module],
    example: tuple[torch.Tensor, ...],
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
):
    path = cache_path(kind, key)
    if not path.is_file():
        export(build(), example, path, input_names, output_names, dynamic_axes)
    return session(path)
