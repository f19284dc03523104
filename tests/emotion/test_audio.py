"""Audio input to the emotion models: formats, rates, garbage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotion.audio import AudioInputError, as_audio, has_signal, load_audio, split_segments
from emotion.data import ravdess_clips


def test_pcm16_bytes_int16_and_float_agree() -> None:
    x = (np.sin(np.arange(1600) / 5) * 0.5).astype(np.float32)
    pcm = np.round(x * 32767).astype("<i2")
    assert np.allclose(as_audio(pcm.tobytes()), as_audio(pcm), atol=0)
    assert np.allclose(as_audio(x), as_audio(pcm), atol=1e-4)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([0.1, np.nan, 0.2], np.float32), "NaN"),
        (np.array([0.1, np.inf], np.float32), "NaN or infinite"),
        (np.zeros((2, 100), np.float32), "mono"),
        (b"\x00\x01\x02", "even number"),
        (np.array(["a"]), "int16 or float"),
    ],
)
def test_garbage_gets_a_clear_error(bad: object, message: str) -> None:
    with pytest.raises(AudioInputError, match=message):
        as_audio(bad)  # type: ignore[arg-type]


def test_eight_khz_is_resampled_and_clipping_is_tolerated() -> None:
    x8 = np.clip(np.sin(np.arange(8000) / 3) * 3.0, -1, 1).astype(np.float32)  # hard-clipped
    y = as_audio(x8, 8000)
    assert y.size == 16000 and np.max(np.abs(y)) <= 1.0


def test_no_signal_rules() -> None:
    assert not has_signal(np.zeros(0, np.float32))
    assert not has_signal(np.full(1600, 0.3, np.float32))  # 0.1 s: too short
    assert not has_signal(np.zeros(32000, np.float32))  # digital silence
    rng = np.random.default_rng(0)
    assert has_signal((rng.standard_normal(32000) * 0.05).astype(np.float32))


def test_segments_cover_the_file_and_merge_a_short_tail() -> None:
    x = np.zeros(int(4.3 * 16000), np.float32)
    segs = split_segments(x)
    assert [round(start, 2) for start, _ in segs] == [0.0, 2.0]
    assert sum(s.size for _, s in segs) == x.size
    assert len(split_segments(np.zeros(int(4.6 * 16000), np.float32))) == 3
    assert len(split_segments(np.zeros(8000, np.float32))) == 1


def test_load_wav_flac_mp3_at_any_rate(shared: Path, tmp_path: Path) -> None:
    clip = ravdess_clips(shared)[0].path
    ref = load_audio(clip)
    x, rate = sf.read(clip, dtype="float32")
    sf.write(tmp_path / "a.wav", x, rate)
    assert np.allclose(load_audio(tmp_path / "a.wav"), ref, atol=1e-4)
    subprocess.run(["sox", str(clip), "-r", "44100", str(tmp_path / "c.mp3")], check=True, capture_output=True)
    mp3 = load_audio(tmp_path / "c.mp3")
    assert abs(mp3.size - ref.size) < 0.1 * ref.size  # mp3 adds encoder delay/padding


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="no such audio file"):
        load_audio(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really audio" * 10)
    with pytest.raises(AudioInputError, match="cannot decode"):
        load_audio(junk)
