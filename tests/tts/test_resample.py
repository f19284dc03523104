"""Resampler quality: pitch kept, no aliasing, streaming == one-shot."""

from __future__ import annotations

import numpy as np
import pytest

from tts.resample import StreamResampler, resample

IN_RATE, OUT_RATE = 22_050, 16_000


def tone(freq: float, seconds: float = 1.0, rate: int = IN_RATE, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_1khz_stays_1khz() -> None:
    out = resample(tone(1000), IN_RATE, OUT_RATE)
    assert out.dtype == np.float32
    assert peak_frequency(out, OUT_RATE) == pytest.approx(1000, abs=2)
    assert rms(out) == pytest.approx(rms(tone(1000)), rel=0.02)  # passband gain ~1


def test_tone_above_new_nyquist_is_removed_not_aliased() -> None:
    # 9 kHz is above 8 kHz; naive decimation would fold it to 7 kHz at full level.
    reference = rms(resample(tone(1000), IN_RATE, OUT_RATE))
    out = resample(tone(9000), IN_RATE, OUT_RATE)
    steady = out[1000:-1000]  # ignore filter edges
    attenuation_db = 20 * np.log10(reference / max(rms(steady), 1e-12))
    assert attenuation_db > 40


def test_length_ratio() -> None:
    out = resample(tone(440, seconds=2.0), IN_RATE, OUT_RATE)
    assert abs(len(out) - 2.0 * OUT_RATE) <= 2


def test_int16_input_is_scaled() -> None:
    x = (tone(1000) * 32768).astype(np.int16)
    out = resample(x, IN_RATE, OUT_RATE)
    assert np.max(np.abs(out)) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("chunk", [1, 441, 1000, 4410])
def test_streaming_equals_one_shot(chunk: int) -> None:
    rng = np.random.default_rng(0)
    x = (tone(700) + 0.05 * rng.standard_normal(IN_RATE).astype(np.float32)).astype(np.float32)
    whole = resample(x, IN_RATE, OUT_RATE)
    stream = StreamResampler(IN_RATE, OUT_RATE)
    pieces = [stream.process(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    pieces.append(stream.process(np.zeros(0, dtype=np.float32), last=True))
    streamed = np.concatenate(pieces)
    assert abs(len(streamed) - len(whole)) <= 1
    n = min(len(streamed), len(whole))
    np.testing.assert_allclose(streamed[:n], whole[:n], atol=1e-4)


def test_stream_is_reusable_after_last() -> None:
    x = tone(1000, seconds=0.5)
    stream = StreamResampler(IN_RATE, OUT_RATE)
    first = np.concatenate([stream.process(x), stream.process(x[:0], last=True)])
    second = np.concatenate([stream.process(x), stream.process(x[:0], last=True)])
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_same_rate_and_empty() -> None:
    x = tone(1000, rate=OUT_RATE)
    np.testing.assert_array_equal(StreamResampler(OUT_RATE, OUT_RATE).process(x), x)
    assert resample(np.zeros(0, dtype=np.float32), IN_RATE, OUT_RATE).size == 0


def test_rejects_stereo() -> None:
    with pytest.raises(ValueError):
        StreamResampler(IN_RATE, OUT_RATE).process(np.zeros((10, 2), dtype=np.float32))
