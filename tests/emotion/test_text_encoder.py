"""The torch-native MiniLM encoder: offline weights, sentence-transformers pooling, layer split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotion.text_encoder import DIM, TextEncoder, mean_pool, run_layers


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load()


def test_unit_vectors_and_meaning(encoder: TextEncoder) -> None:
    texts = [
        "I need to move my appointment to next week",
        "Can I reschedule my visit?",
        "What were my blood test results?",
    ]
    v = encoder.encode(texts)
    assert v.shape == (3, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.15
    assert encoder.similarity(texts[0], texts[0]) == pytest.approx(1.0, abs=1e-5)
    assert encoder.encode([]).shape == (0, DIM)


def test_batching_and_padding_do_not_change_vectors(encoder: TextEncoder) -> None:
    texts = ["short", "a much longer sentence that needs padding in a batch with a short one", "mid length text"]
    together = encoder.encode(texts, batch_size=3)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_lower_layers_then_top_layers_equal_the_whole(encoder: TextEncoder) -> None:
    """The language model runs the frozen lower layers, then its own copy of the top: same maths."""
    batch = encoder.tokenize(["my chest hurts", "thanks, bye"])
    with torch.inference_mode():
        lower = encoder.forward(batch.ids, batch.mask, upto=4)
        split = mean_pool(run_layers(encoder.layer[4:], lower, batch.mask), batch.mask)
        whole = mean_pool(encoder.forward(batch.ids, batch.mask), batch.mask)
    assert torch.allclose(split, whole, atol=1e-5)


def test_truncates_long_input(encoder: TextEncoder) -> None:
    ids = encoder.token_ids(["word " * 1000], max_length=128)
    assert len(ids[0]) == 128
    assert encoder.encode(["word " * 1000]).shape == (1, DIM)


def test_a_fresh_encoder_counts_and_truncates_without_padding() -> None:
    """tokenizer.json pads to a fixed length; a fresh encoder must not (a first call used to get
    every text padded, which chunked each word on its own)."""
    fresh = TextEncoder.load(max_length=128)
    assert fresh.count_tokens("thank you") == 2
    (ids,) = fresh.token_ids(["thank you"])
    assert len(ids) == 4 and ids[0] == 101 and ids[-1] == 102  # [CLS] thank you [SEP]
    (long,) = fresh.token_ids(["word " * 300])
    assert len(long) == 128 and long[-1] == 102
