"""Audio as the emotion models take it: float32 mono at 16 kHz, cut into 2-second segments.

Every model entry point goes through :func:`as_audio`, so garbage input gets one clear error
(:class:`AudioInputError`) or a defined "no signal" answer (:func:`has_signal`), never a crash.

A payload from the network (:func:`decode_audio` with ``max_s``) is never decoded whole before its
size is known: the header is read first (channels, rate, stated length) and refused when it exceeds
the bounds below, and then at most the allowed number of frames is decoded, so a header that lies
or states no length still cannot make the decoder produce more. A 400-KB FLAC that claims 1,000 s
of 8 channels at 48 kHz (1.5 GB of float samples) is refused after reading its header."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from telephony.audio import SAMPLE_RATE, samples_dbfs

SEGMENT_S = 2.0
SEGMENT_SAMPLES = int(SEGMENT_S * SAMPLE_RATE)
# Shorter than this, a clip carries no usable prosody (one syllable is ~200 ms): "no signal".
MIN_SIGNAL_S = 0.25
# Quieter than this over the whole clip is line noise, not a voice: "no signal".
MIN_SIGNAL_DBFS = -55.0
# A last segment shorter than this is merged into the previous one instead of standing alone.
MIN_TAIL_S = 0.5
MAX_INPUT_S = 60.0  # one scoring call; files are cut into segments before this applies
# Bounds on an audio payload's header, checked before anything is decoded. Phones send mono at
# 8-16 kHz; these leave room for any real recording and none for a decompression bomb.
MAX_PAYLOAD_CHANNELS = 8
MIN_PAYLOAD_RATE = 1000
MAX_PAYLOAD_RATE = 192_000
# Decoded samples (all channels) a payload may produce per second of ``max_s``: stereo at 48 kHz.
# 5 s -> 480,000 samples (1.9 MB as float32); 8 channels at 48 kHz get 1.25 s.
PAYLOAD_SAMPLES_PER_S = 48_000 * 2
_UNKNOWN_FRAMES = 2**63 - 1  # libsndfile's SF_COUNT_MAX: the header states no length


class AudioInputError(ValueError):
    """Audio that cannot be scored: not finite, wrong shape, wrong rate, too long, undecodable."""


class AudioTooLong(AudioInputError):
    """Longer than the caller's limit (the message says how long it was)."""


def as_audio(pcm: bytes | np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """PCM16 bytes, an int16 array or a float array at ``sample_rate`` -> float32 mono 16 kHz.

    Raises AudioInputError for NaN/inf samples, multi-channel arrays, impossible rates and
    more than MAX_INPUT_S of audio. Clipped audio is accepted (phones clip; it is still speech)."""
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        if len(pcm) % 2:
            raise AudioInputError("PCM16 audio must have an even number of bytes")
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    else:
        arr = np.asarray(pcm)
        if arr.ndim != 1:
            raise AudioInputError(f"audio must be mono (1-D), got shape {arr.shape}")
        if arr.dtype == np.int16:
            x = arr.astype(np.float32) / 32768.0
        elif np.issubdtype(arr.dtype, np.floating):
            x = arr.astype(np.float32, copy=False)
        else:
            raise AudioInputError(f"audio must be int16 or float samples, got {arr.dtype}")
    if not (1000 <= sample_rate <= 384_000):
        raise AudioInputError(f"implausible sample rate {sample_rate} Hz")
    if x.size and not np.all(np.isfinite(x)):
        raise AudioInputError("audio contains NaN or infinite samples")
    if x.size > MAX_INPUT_S * sample_rate:
        raise AudioInputError(f"audio is {x.size / sample_rate:.1f} s; score at most {MAX_INPUT_S:.0f} s at once")
    if sample_rate != SAMPLE_RATE and x.size:
        x = soxr.resample(x, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    # Float input may exceed full scale (e.g. after gain); the models saw [-1, 1] in training.
    return np.clip(x, -1.0, 1.0)


def has_signal(x: np.ndarray) -> bool:
    """True when a 16 kHz clip is long and loud enough to be scored (see MIN_SIGNAL_*)."""
    return x.size >= MIN_SIGNAL_S * SAMPLE_RATE and samples_dbfs(x) > MIN_SIGNAL_DBFS


def load_audio(path: str | Path) -> np.ndarray:
    """Any audio file soundfile or PyAV can decode (wav, flac, mp3, ogg, ...; any rate) -> float32 16 kHz mono."""
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path}: no such audio file")
    return _decode(str(path), str(path))


def decode_audio(data: bytes, max_s: float | None = None) -> np.ndarray:
    """The bytes of an audio file (as a WebSocket payload carries it) -> float32 16 kHz mono.

    ``max_s``: refuse longer audio (AudioTooLong saying how long it is). With it, the header is
    checked first (:func:`check_header`) and at most ``max_s`` of audio is ever decoded."""
    if not data:
        raise AudioInputError("audio payload is empty")
    return _decode(io.BytesIO(data), "audio payload", max_s)


def payload_sample_limit(max_s: float) -> int:
    """Decoded samples (frames x channels) a payload of at most ``max_s`` seconds may produce."""
    return int(max_s * PAYLOAD_SAMPLES_PER_S)


def check_header(channels: int, rate: int, frames: int | None, max_s: float, name: str = "audio payload") -> int:
    """Refuses audio whose header is out of bounds; returns how many frames may be decoded.

    AudioInputError: no channels, more than MAX_PAYLOAD_CHANNELS, a rate outside
    MIN_PAYLOAD_RATE..MAX_PAYLOAD_RATE. AudioTooLong: the stated length (``frames``; None when the
    header does not say) is over ``max_s`` or would decode to more than payload_sample_limit."""
    if not 1 <= channels <= MAX_PAYLOAD_CHANNELS:
        raise AudioInputError(f"{name}: {channels} channels; at most {MAX_PAYLOAD_CHANNELS} are accepted")
    if not MIN_PAYLOAD_RATE <= rate <= MAX_PAYLOAD_RATE:
        raise AudioInputError(f"{name}: sample rate {rate} Hz is outside {MIN_PAYLOAD_RATE}..{MAX_PAYLOAD_RATE} Hz")
    allowed = min(int(max_s * rate), payload_sample_limit(max_s) // channels)
    if frames is not None and frames > int(max_s * rate):
        raise AudioTooLong(f"{name}: audio is {frames / rate:.1f} s, longer than the {max_s:g} s limit")
    if frames is not None and frames > allowed:
        raise AudioTooLong(
            f"{name}: {frames / rate:.1f} s of {channels} channels at {rate} Hz is {frames * channels:,} samples; "
            f"the limit is {payload_sample_limit(max_s):,} ({max_s:g} s of stereo 48 kHz)"
        )
    return allowed


def _decode(source: str | io.BytesIO, name: str, max_s: float | None = None) -> np.ndarray:
    try:
        data, rate = _read_soundfile(source, name, max_s)
        mono = data.mean(axis=1)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        if isinstance(source, io.BytesIO):
            source.seek(0)
        mono, rate = _decode_with_av(source, name, max_s)
    if mono.size == 0:
        raise AudioInputError(f"{name}: audio file is empty")
    if max_s is not None and mono.size > max_s * rate:
        raise AudioTooLong(f"{name}: audio is {mono.size / rate:.1f} s, longer than the {max_s:g} s limit")
    if not np.all(np.isfinite(mono)):
        raise AudioInputError(f"{name}: audio contains NaN or infinite samples")
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return mono


def _read_soundfile(source: str | io.BytesIO, name: str, max_s: float | None) -> tuple[np.ndarray, int]:
    """libsndfile: opening reads only the header; with ``max_s`` at most one frame past the limit
    is read, so a stated length that lies (or is unknown) still cannot decode more."""
    if max_s is None:
        data, rate = sf.read(source, dtype="float32", always_2d=True)
        return data, int(rate)
    with sf.SoundFile(source) as f:
        stated = f.frames if 0 <= f.frames < _UNKNOWN_FRAMES else None  # e.g. a FLAC written to a pipe
        allowed = check_header(f.channels, f.samplerate, stated, max_s, name)
        data = f.read(frames=allowed + 1, dtype="float32", always_2d=True)
        if len(data) > allowed:
            raise AudioTooLong(
                f"{name}: more than the limit of {allowed:,} frames ({f.channels} channels at {f.samplerate} Hz; {max_s:g} s and "
                f"{payload_sample_limit(max_s):,} samples at most); its header did not say so, decoding stopped there"
            )
        return data, int(f.samplerate)


def _decode_with_av(source: str | io.BytesIO, name: str, max_s: float | None = None) -> tuple[np.ndarray, int]:
    """Formats libsndfile lacks (some mp3s, m4a): decode with PyAV, already installed for STT.

    With ``max_s``, the stream's channels and rate are checked before decoding, and decoding
    stops as soon as the decoded frames pass the limit (containers need not state a length)."""
    import av  # local: only needed for the rare file libsndfile cannot read

    try:
        with av.open(source) as container:
            stream = next(s for s in container.streams if s.type == "audio")
            if max_s is not None:
                check_header(stream.channels or 0, stream.rate or 0, None, max_s, name)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=stream.rate or SAMPLE_RATE)
            budget = _DecodeBudget(max_s, name)
            chunks: list[np.ndarray] = []
            for packet in container.demux(stream):
                for decoded in packet.decode():
                    budget.spend(decoded.samples, len(decoded.layout.channels), decoded.sample_rate)
                    chunks.extend(frame.to_ndarray().reshape(-1) for frame in resampler.resample(decoded))
            rate = resampler.rate or SAMPLE_RATE
    except AudioInputError:
        raise  # the budget's refusals (a ValueError too) keep their own message
    except (av.error.FFmpegError, StopIteration, ValueError) as exc:
        raise AudioInputError(f"{name}: cannot decode audio: {exc}") from None
    return (np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)), int(rate)


class _DecodeBudget:
    """Counts what a streaming decode has produced; AudioTooLong as soon as it passes ``max_s``
    or the payload sample limit (the rate and channel count may change between frames)."""

    def __init__(self, max_s: float | None, name: str) -> None:
        self.max_s, self.name = max_s, name
        self.seconds = 0.0
        self.samples = 0

    def spend(self, frames: int, channels: int, rate: int) -> None:
        if self.max_s is None:
            return
        check_header(channels, rate, None, self.max_s, self.name)
        self.seconds += frames / rate
        self.samples += frames * channels
        if self.seconds > self.max_s or self.samples > payload_sample_limit(self.max_s):
            raise AudioTooLong(
                f"{self.name}: audio is longer than the {self.max_s:g} s limit "
                f"(decoding stopped after {self.seconds:.1f} s, {self.samples:,} samples)"
            )


def split_segments(x: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """Cut 16 kHz audio into consecutive 2-second segments as (start_s, samples).

    A tail shorter than MIN_TAIL_S joins the previous segment (so a 4.3 s file gives two
    segments, the second 2.3 s long); a clip shorter than 2 s is one segment as it is."""
    if x.size <= SEGMENT_SAMPLES:
        return [(0.0, x)]
    starts = list(range(0, x.size, SEGMENT_SAMPLES))
    if x.size - starts[-1] < MIN_TAIL_S * SAMPLE_RATE:
        starts.pop()
    bounds = starts[1:] + [x.size]
    return [(s / SAMPLE_RATE, x[s:e]) for s, e in zip(starts, bounds)]
