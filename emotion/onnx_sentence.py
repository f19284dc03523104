"""all-MiniLM-L6-v2 sentence embeddings on ONNX Runtime, without importing torch.

The conversation graph embeds each caller utterance (graph/matcher.py) in every SIP process of
a node. :class:`emotion.text_encoder.TextEncoder` does it in torch, and importing torch costs a
process about 330 MB of resident memory before any weight is loaded (measured: docs/benchmarks.md,
"Memory per node"). This encoder runs the same graph (embeddings, six layers, mean pooling over
real tokens; L2-normalised here) from ``<model cache>/sentence/<weights hash>.onnx`` with the
``tokenizers`` package, so a process that only answers calls never loads torch. The graph is
exported once, with torch, by ``scripts/install.sh`` (or on first use where torch is installed);
outputs equal the torch encoder's to ~1e-6 (tests/emotion/test_onnx_sentence.py).

``load_sentence_encoder`` falls back to the torch encoder, and says so in the log, if anything
about ONNX fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import structlog

from emotion.minilm import load_tokenizer, model_dir, token_ids
from emotion.onnx_cache import cache_path, session, weights_key

DIM = 384
GRAPH_VERSION = "sentence-pooled-v1"  # bump when the exported graph changes: the cache keys on it
KIND = "sentence"


def graph_key(directory: Path | None = None) -> str:
    return weights_key(GRAPH_VERSION, (directory or model_dir()) / "model.safetensors")


def export_graph(directory: Path | None = None) -> Path:
    """Writes the cached ONNX graph from the torch encoder (needs torch); returns its path."""
    import torch

    from emotion.onnx_cache import export
    from emotion.onnx_text import PooledEncoder
    from emotion.text_encoder import TextEncoder

    directory = directory or model_dir()
    path = cache_path(KIND, graph_key(directory))
    encoder = TextEncoder.load(directory)
    ids = torch.tensor([[101, 7592, 102]])
    axes = {"ids": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}, "pooled": {0: "batch"}}
    export(PooledEncoder(encoder.embeddings, list(encoder.layer)), (ids, torch.ones_like(ids)), path, ["ids", "mask"],
           ["pooled"], axes)
    return path


class OnnxSentenceEncoder:
    """``encode(texts) -> (n, 384)`` float32, unit L2 norm: the graph matcher's ``TextEmbedder``."""

    backend = "onnx"

    def __init__(self, onnx_session, tokenizer, max_length: int = 256) -> None:
        """``tokenizer``: from emotion.minilm.load_tokenizer (padding and truncation off)."""
        self._session = onnx_session
        self._tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def load(cls, directory: Path | None = None, max_length: int = 256) -> OnnxSentenceEncoder:
        """From the cached graph; exports it first (with torch) if it is not there yet."""
        directory = directory or model_dir()
        tokenizer = load_tokenizer(directory)
        path = cache_path(KIND, graph_key(directory))
        if not path.is_file():
            export_graph(directory)
        return cls(session(path), tokenizer, max_length)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        ids = token_ids(self._tokenizer, texts, self.max_length)
        order = np.argsort([len(x) for x in ids], kind="stable")  # batches of like lengths pad little
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start: start + batch_size]
            width = max(len(ids[i]) for i in idx)
            batch = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                batch[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            (pooled,) = self._session.run(None, {"ids": batch, "mask": mask})
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.maximum(norms, 1e-12)
        return out


def load_sentence_encoder(directory: Path | None = None):
    """The ONNX encoder, or the torch one (logged) if ONNX cannot be used here."""
    try:
        return OnnxSentenceEncoder.load(directory)
    except Exception as exc:  # noqa: BLE001 - any ONNX trouble: the torch encoder gives the same numbers
        structlog.get_logger(component="emotion.sentence").warning(
            "sentence_encoder_onnx_unavailable", error=f"{type(exc).__name__}: {exc}", fallback="torch")
        from emotion.text_encoder import TextEncoder

        return TextEncoder.load(directory)
