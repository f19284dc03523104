"""The torch-free sentence encoder gives the torch encoder's embeddings (that a SIP process
loading it never imports torch: tests/agent/app/test_server_imports.py)."""

from __future__ import annotations

import numpy as np
import pytest

from emotion.onnx_sentence import OnnxSentenceEncoder, load_sentence_encoder
from emotion.text_encoder import TextEncoder

TEXTS = ["I need to move my appointment to Thursday", "Can I reschedule?", "my chest hurts", "yes", "",
         "could you please tell me when the clinic opens on saturday morning " * 20]  # past 256 word pieces


@pytest.fixture(scope="module")
def encoders() -> tuple[OnnxSentenceEncoder, TextEncoder]:
    return OnnxSentenceEncoder.load(), TextEncoder.load()


def test_embeddings_equal_the_torch_encoders(encoders) -> None:
    onnx, torch_encoder = encoders
    a, b = onnx.encode(TEXTS), torch_encoder.encode(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
    assert np.abs(a - b).max() < 1e-4
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert onnx.encode([]).shape == (0, 384)


def test_order_and_batching_do_not_change_an_embedding(encoders) -> None:
    onnx, _ = encoders
    together = onnx.encode(TEXTS, batch_size=2)
    alone = np.stack([onnx.encode([t])[0] for t in TEXTS])
    assert np.abs(together - alone).max() < 1e-5


def test_without_onnx_it_falls_back_to_the_torch_encoder(monkeypatch, tmp_path) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("onnxruntime unusable here")

    monkeypatch.setattr(OnnxSentenceEncoder, "load", classmethod(lambda cls, directory=None: broken()))
    assert isinstance(load_sentence_encoder(), TextEncoder)
