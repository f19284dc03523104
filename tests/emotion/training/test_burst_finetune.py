"""The fine-tuning experiment's batched, trainable encoder layer computes what the shipped
feature extractor computes, so its numbers are about training, not a different network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotion.speech_features import SpeechFeatures, _tiny_en_path
from emotion.training import burst_finetune


@pytest.fixture(scope="module")
def speech() -> SpeechFeatures:
    return SpeechFeatures(layers=3, onnx=False)


def _clip(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(32000) / 16000
    return (0.1 * np.sin(2 * np.pi * (180 + 40 * rng.random()) * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_trainable_layer_equals_the_shipped_encoder_layer(speech: SpeechFeatures) -> None:
    EncoderLayer = burst_finetune.encoder_layer_class()
    layer = EncoderLayer(*burst_finetune.layer_weights(_tiny_en_path(), 2))
    with torch.inference_mode():
        states = [speech.encoder.layer_states(speech.log_mel(_clip(s))[:, :200][None]) for s in (0, 1)]
        batch = torch.stack([st[1] for st in states])  # two clips at once: the batched path
        out = layer(batch)
    for i, st in enumerate(states):
        np.testing.assert_allclose(out[i].numpy(), st[2].numpy(), rtol=1e-4, atol=1e-4)


def test_frozen_layers_do_not_learn_and_the_head_does() -> None:
    pooled = np.zeros(768, np.float32)
    net = burst_finetune.build_net(3, pooled, np.ones(768, np.float32), _tiny_en_path())
    for p in net.layers.parameters():
        p.requires_grad_(False)
    frames = torch.randn(4, burst_finetune.FRAMES, 384)
    logits = net(frames, torch.randn(4, 768))
    assert logits.shape == (4, 30)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is None for p in net.layers.parameters())
    assert net.head[1].weight.grad is not None and float(net.head[1].weight.grad.abs().sum()) > 0
