"""Audio input to the emotion models: formats, rates, garbage."""

from __future__ import annotations

import io
import resource
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from emotion.audio import (
    AudioInputError,
    AudioTooLong,
    as_audio,
    check_header,
    decode_audio,
    has_signal,
    load_audio,
    payload_sample_limit,
    split_segments,
)
from emotion.training.data import ravdess_clips
from tests.emotion.service_process import flac_without_length, silent_flac, wav


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


# -- payloads from the network: the header is checked before anything is decoded -----------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_header_bounds() -> None:
    assert check_header(1, 16000, 80_000, 5.0) == 80_000  # 5 s mono 16 kHz: exactly the limit
    assert check_header(2, 48000, None, 5.0) == 240_000  # stereo 48 kHz uses the whole sample budget
    assert check_header(8, 48000, None, 5.0) == payload_sample_limit(5.0) // 8  # 1.25 s of 8 channels
    with pytest.raises(AudioTooLong, match="1000.0 s, longer than the 5 s limit"):
        check_header(8, 48000, 48_000_000, 5.0)
    with pytest.raises(AudioTooLong, match="the limit is 480,000"):
        check_header(8, 48000, 96_000, 5.0)  # 2 s, but 768,000 samples
    for channels, rate, message in [(9, 16000, "9 channels"), (0, 16000, "0 channels"),
                                    (1, 500, "500 Hz"), (1, 384_000, "384000 Hz")]:
        with pytest.raises(AudioInputError, match=message) as info:
            check_header(channels, rate, 100, 5.0)
        assert not isinstance(info.value, AudioTooLong)


def test_flac_bomb_is_refused_from_its_header() -> None:
    bomb = silent_flac(200)  # 200 s x 8 channels x 48 kHz: 300 MB of float32 from ~80 KB
    assert len(bomb) < 200_000
    before = _peak_rss_mb()
    started = time.perf_counter()
    with pytest.raises(AudioTooLong, match="200.0 s"):
        decode_audio(bomb, max_s=5.0)
    assert time.perf_counter() - started < 0.5
    assert _peak_rss_mb() - before < 50  # never decoded (decoding would add ~300 MB)


def test_payload_limits_keep_ordinary_audio() -> None:
    x = (np.sin(np.arange(80_000) / 7) * 0.3).astype(np.float32)
    assert decode_audio(wav(x), max_s=5.0).size == 80_000  # 5.0 s: on the limit, accepted
    with pytest.raises(AudioTooLong, match="5.0 s, longer"):
        decode_audio(wav(np.concatenate([x, x[:16]])), max_s=4.99)
    stereo48 = np.zeros((int(4.5 * 48000), 2), np.float32)
    assert decode_audio(wav(stereo48, 48000), max_s=5.0).size == 72_000  # 4.5 s stereo 48 kHz -> 16 kHz mono
    with pytest.raises(AudioTooLong, match="samples"):
        decode_audio(wav(np.zeros((48000 * 2, 8), np.float32), 48000), max_s=5.0)
    with pytest.raises(AudioInputError, match="9 channels"):
        decode_audio(wav(np.zeros((1600, 9), np.float32)), max_s=5.0)


def test_a_header_without_length_is_decoded_only_up_to_the_limit() -> None:
    x = (np.random.default_rng(3).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    assert decode_audio(flac_without_length(x), max_s=5.0).size == x.size  # short: decoded as usual
    long = np.tile(x, 20)  # 60 s, and the header does not say so
    with pytest.raises(AudioTooLong, match="decoding stopped"):
        decode_audio(flac_without_length(long), max_s=5.0)


def _m4a(seconds: float, rate: int = 16000) -> bytes:
    """AAC in MP4: libsndfile cannot read it, so it goes through PyAV's streaming decode."""
    buf = io.BytesIO()
    rng = np.random.default_rng(4)
    with av.open(buf, "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        for i in range(int(seconds * rate) // 1024):
            frame = av.AudioFrame.from_ndarray((rng.standard_normal((1, 1024)) * 0.05).astype(np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def test_pyav_formats_stop_decoding_at_the_limit() -> None:
    assert abs(decode_audio(_m4a(3), max_s=5.0).size - 48_000) < 1600
    started = time.perf_counter()
    with pytest.raises(AudioTooLong, match="decoding stopped after 5.1 s"):
        decode_audio(_m4a(60), max_s=5.0)
    assert time.perf_counter() - started < 1.0
