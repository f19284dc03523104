"""Recording conditions in software: level, microphone, room, a low-bitrate codec and the phone line.

The emotion models were trained on studio actors (RAVDESS) and one phone data set; real callers
speak at other levels, into other microphones, in other rooms, through other codecs. Training on
clips passed through random conditions teaches the heads that these do not change the emotion.

Each condition is one method of :class:`Augmenter` (all 16 kHz float32 in, same length out):

* ``level``: gain of -24..+6 dB; a hot signal is soft-limited (tanh), as a phone's AGC would.
* ``mic``: a random microphone colour: high-pass at 60-300 Hz, low-pass at 3.4-7.5 kHz and one or
  two peaking filters of +-3..8 dB between 200 Hz and 5 kHz (RBJ biquads).
* ``room``: a synthetic impulse response (exponentially decaying noise, RT60 0.15-0.8 s, direct
  path 0-12 dB above the reverberant tail).
* ``codec``: Ogg Opus at 8 kHz, as the GetGoing calls were stored (libsndfile's encoder; a
  compression level of 0.6-1.0, i.e. low bitrates).
* ``phone``: :class:`~emotion.training.channel.PhoneChannel` (G.711, band-pass, real noise).

:meth:`Augmenter.apply` draws a chain: ``level``, ``mic`` and ``room`` each with probability 1/2,
then the phone line (1/2), the codec (1/4) or neither. ``chain`` fixes it instead.

Written with scipy rather than audiomentations: that library needs librosa (and numba) for the
handful of filters used here, and has no Opus or G.711 channel."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, fftconvolve, sosfilt

from emotion.training.channel import PhoneChannel
from telephony.audio import SAMPLE_RATE

CONDITIONS = ("level", "mic", "room", "codec", "phone")


def _peaking(f0: float, gain_db: float, q: float, fs: int = SAMPLE_RATE) -> np.ndarray:
    """RBJ cookbook peaking-EQ biquad as one second-order section."""
    a = 10 ** (gain_db / 40.0)
    w0 = 2 * np.pi * f0 / fs
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


@dataclass
class Augmenter:
    """``apply(x16k) -> (y16k, chain)``; reproducible for a given ``rng``."""

    noise_bank: list[np.ndarray] = field(default_factory=list)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def __post_init__(self) -> None:
        self._phone = PhoneChannel(self.noise_bank, rng=self.rng)

    def draw_chain(self) -> tuple[str, ...]:
        chain = [c for c in ("level", "mic", "room") if self.rng.random() < 0.5]
        last = self.rng.random()
        if last < 0.5:
            chain.append("phone")
        elif last < 0.75:
            chain.append("codec")
        return tuple(chain)

    def apply(self, x: np.ndarray, chain: Sequence[str] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
        chain = tuple(chain) if chain is not None else self.draw_chain()
        unknown = [c for c in chain if c not in CONDITIONS]
        if unknown:
            raise ValueError(f"unknown augmentation {unknown}; known: {CONDITIONS}")
        y = x.astype(np.float32)
        for condition in chain:
            y = getattr(self, condition)(y)
        return y.astype(np.float32), chain

    def level(self, x: np.ndarray) -> np.ndarray:
        y = x * 10 ** (self.rng.uniform(-24.0, 6.0) / 20.0)
        if np.max(np.abs(y), initial=0.0) > 0.95:
            y = 0.95 * np.tanh(y / 0.95)
        return y.astype(np.float32)

    def mic(self, x: np.ndarray) -> np.ndarray:
        sos = [
            butter(2, self.rng.uniform(60.0, 300.0), btype="highpass", fs=SAMPLE_RATE, output="sos"),
            butter(4, self.rng.uniform(3400.0, 7500.0), btype="lowpass", fs=SAMPLE_RATE, output="sos"),
        ]
        for _ in range(int(self.rng.integers(1, 3))):
            gain = self.rng.uniform(3.0, 8.0) * self.rng.choice([-1.0, 1.0])
            sos.append(_peaking(float(np.exp(self.rng.uniform(np.log(200.0), np.log(5000.0)))), gain, self.rng.uniform(0.7, 2.0)))
        y = sosfilt(np.concatenate(sos), x).astype(np.float32)
        return self._match_rms(y, x)

    def room(self, x: np.ndarray) -> np.ndarray:
        rt60 = self.rng.uniform(0.15, 0.8)
        n = int(rt60 * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        tail = self.rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
        tail[: int(0.003 * SAMPLE_RATE)] = 0.0  # the first reflections arrive a few ms after the direct sound
        drr_db = self.rng.uniform(0.0, 12.0)
        tail *= 10 ** (-drr_db / 20.0) / max(_rms(tail) * np.sqrt(n), 1e-9)
        ir = tail
        ir[0] = 1.0
        y = fftconvolve(x, ir)[: x.size].astype(np.float32)
        return self._match_rms(y, x)

    def codec(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            return x
        narrow = soxr.resample(x, SAMPLE_RATE, 8000)
        peak = float(np.max(np.abs(narrow), initial=0.0))
        if peak > 1.0:
            narrow = narrow / peak
        buf = io.BytesIO()
        sf.write(buf, narrow, 8000, format="OGG", subtype="OPUS", compression_level=float(self.rng.uniform(0.6, 1.0)))
        buf.seek(0)
        decoded, rate = sf.read(buf, dtype="float32")
        y = soxr.resample(decoded, rate, SAMPLE_RATE).astype(np.float32)
        return np.pad(y[: x.size], (0, max(0, x.size - y.size)))

    def phone(self, x: np.ndarray) -> np.ndarray:
        return self._phone.apply(x)

    @staticmethod
    def _match_rms(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Filters and rooms change the colour, not the level (``level`` does that)."""
        ry = _rms(y)
        return y if ry <= 1e-9 else (y * (_rms(x) / ry)).astype(np.float32)
