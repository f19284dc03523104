"""The language model's transformer on ONNX Runtime: the same numbers, about twice as fast.

PyTorch's eager ``TransformerEncoderLayer`` takes ~2.5 ms per layer for a 20-word utterance on
one core here; ONNX Runtime runs the identical graph (all six layers, the fine-tuned top two
included, and the mean pooling) in ~1.5 ms per layer: 9.6 ms against 17.7 ms per utterance,
outputs equal to 1e-6 (measured in docs/emotion-models.md). The graph is exported and cached
by :mod:`emotion.onnx_cache` as ``<model cache>/language/<weights hash>.onnx``. If anything about
ONNX fails, the model keeps using torch, and says so in the log."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotion.onnx_cache import cached_session
from emotion.text_encoder import Embeddings

GRAPH_VERSION = "pooled-v1"  # bump when the exported graph changes: the cache keys on it


class ExplicitBertLayer(nn.Module):
    """A post-LayerNorm BERT layer written out op by op (the fused torch kernel cannot be
    exported), built from a ``bert_layer`` (torch's ``TransformerEncoderLayer``)."""

    def __init__(self, layer: nn.TransformerEncoderLayer) -> None:
        super().__init__()
        d = layer.self_attn.embed_dim
        self.heads = layer.self_attn.num_heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ffn_in = nn.Linear(d, layer.linear1.out_features)
        self.ffn_out = nn.Linear(layer.linear1.out_features, d)
        self.norm1 = nn.LayerNorm(d, eps=layer.norm1.eps)
        self.norm2 = nn.LayerNorm(d, eps=layer.norm2.eps)
        with torch.no_grad():
            self.qkv.weight.copy_(layer.self_attn.in_proj_weight)
            self.qkv.bias.copy_(layer.self_attn.in_proj_bias)
            self.out.weight.copy_(layer.self_attn.out_proj.weight)
            self.out.bias.copy_(layer.self_attn.out_proj.bias)
            for mine, theirs in ((self.ffn_in, layer.linear1), (self.ffn_out, layer.linear2),
                                 (self.norm1, layer.norm1), (self.norm2, layer.norm2)):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(b, t, d)
        x = self.norm1(x + self.out(attended))
        return self.norm2(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class PooledEncoder(nn.Module):
    """ids (batch, tokens) + mask (1 real, 0 padding) -> mean of the last layer over real tokens."""

    def __init__(self, embeddings: Embeddings, layers: list[nn.TransformerEncoderLayer]) -> None:
        super().__init__()
        self.embeddings = embeddings
        self.layers = nn.ModuleList(ExplicitBertLayer(layer) for layer in layers)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(torch.float32)
        bias = ((1.0 - m) * -1e9)[:, None, None, :]  # padding gets no attention
        h = self.embeddings(ids)
        for layer in self.layers:
            h = layer(h, bias)
        return (h * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1e-9)


class OnnxPooler:
    """``pooled(ids, mask)`` on ONNX Runtime (emotion/onnx_cache.py), one intra-op thread."""

    def __init__(self, session) -> None:
        self.session = session

    def pooled(self, ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        (out,) = self.session.run(None, {"ids": ids.numpy().astype(np.int64), "mask": mask.numpy().astype(np.int64)})
        return out

    @classmethod
    def for_model(cls, embeddings: Embeddings, layers: list[nn.TransformerEncoderLayer], key: str) -> OnnxPooler:
        ids = torch.tensor([[101, 7592, 102]])
        axes = {"ids": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}, "pooled": {0: "batch"}}
        return cls(cached_session(
            "language", key, lambda: PooledEncoder(embeddings, layers), (ids, torch.ones_like(ids)), ["ids", "mask"], ["pooled"], axes,
        ))
