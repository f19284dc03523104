"""Pooled Whisper encoder states: the shared input of the prosody and embedding heads."""

from __future__ import annotations

from pathlib import Path

import ctranslate2
import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from emotion.audio import load_audio
from emotion.speech_features import SpeechFeatures, _tiny_en_path
from emotion.training.data import ravdess_clips


@pytest.fixture(scope="module")
def encoder() -> SpeechFeatures:
    return SpeechFeatures()


def test_log_mel_matches_faster_whisper(shared: Path, encoder: SpeechFeatures) -> None:
    x = load_audio(ravdess_clips(shared)[0].path)[:32000]
    ref = FeatureExtractor(feature_size=80)(x)
    ours = encoder.log_mel(x).numpy()
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-4


def test_full_encoder_matches_ctranslate2(shared: Path) -> None:
    """Run all four layers + final norm in torch and compare with CTranslate2's own encoder output:
    proves the weights are read and wired correctly (features use layers 0-2 of the same stack)."""
    import torch
    import torch.nn.functional as F

    full = SpeechFeatures(layers=4)
    x = load_audio(ravdess_clips(shared)[10].path)[:32000]
    mel = full.log_mel(x)[:, :200]
    with torch.inference_mode():
        last = full.encoder.layer_states(mel[None])[-1]
        w = full.encoder._w
        ours = F.layer_norm(last, (384,), w("encoder/layer_norm/gamma"), w("encoder/layer_norm/beta")).numpy()
    model = ctranslate2.models.Whisper(str(_tiny_en_path().parent), device="cpu", compute_type="float32")
    ref = np.array(model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy()[None])), to_cpu=True))[0]
    assert np.abs(ours - ref).max() < 1e-2 * np.abs(ref).max()


def test_features_shape_and_determinism(shared: Path, encoder: SpeechFeatures) -> None:
    x = load_audio(ravdess_clips(shared)[3].path)[:32000]
    a, b = encoder.features(x), encoder.features(x)
    assert a.shape == (encoder.dim,) == (3 * 2 * 384,)
    assert np.array_equal(a, b) and np.all(np.isfinite(a))


def test_short_and_long_inputs(encoder: SpeechFeatures) -> None:
    assert encoder.features(np.zeros(10, np.float32)).shape == (encoder.dim,)
    rng = np.random.default_rng(0)
    assert np.all(np.isfinite(encoder.features((rng.standard_normal(16000 * 5) * 0.1).astype(np.float32))))


def test_onnx_and_torch_give_the_same_features(shared: Path, encoder: SpeechFeatures) -> None:
    assert encoder.backend == "onnxruntime"  # scripts/install.sh exports it; a fallback would be logged
    eager = SpeechFeatures(onnx=False)
    for clip in ravdess_clips(shared)[:3]:
        x = load_audio(clip.path)[:32000]
        assert np.abs(encoder.features(x) - eager.features(x)).max() < 1e-4
    short = np.random.default_rng(1).standard_normal(3000).astype(np.float32) * 0.1  # odd length, dynamic axis
    assert np.abs(encoder.features(short) - eager.features(short)).max() < 1e-4
