"""Barge-in detector: unit behaviour, then delay on speech and false triggers on real audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from telephony.audio import SAMPLE_RATE, split_frames
from telephony.barge_in import BargeInDetector
from telephony.config import BargeInConfig
from telephony.vad import SileroModel, SileroVad
from tests.telephony.signals import frame_db, load16, through_phone


def feed(detector: BargeInDetector, probs: list[float]) -> list[int]:
    """Indexes of the frames on which the detector fired."""
    return [i for i, p in enumerate(probs) if detector.update(p)]


# ---- unit ---------------------------------------------------------------------------


def test_fires_once_after_min_speech() -> None:
    det = BargeInDetector(BargeInConfig(min_speech_ms=200, speech_threshold=0.8))
    assert feed(det, [0.1] * 5 + [0.9] * 30) == [5 + 10 - 1]  # the 10th speech frame
    assert det.triggered
    det.reset()
    assert not det.triggered and feed(det, [0.9] * 10) == [9]


def test_tolerates_short_dips_but_restarts_on_long_ones() -> None:
    det = BargeInDetector(BargeInConfig(min_speech_ms=200, speech_threshold=0.8, max_gap_ms=20))
    assert feed(det, [0.9] * 4 + [0.5] + [0.9] * 10) == [9]  # the dip counts as elapsed time
    det = BargeInDetector(BargeInConfig(min_speech_ms=200, speech_threshold=0.8, max_gap_ms=20))
    assert feed(det, [0.9] * 8 + [0.5] * 2 + [0.9] * 9) == []  # 40 ms dip: starts over
    assert det.speech_ms == 9 * 20


def test_short_bursts_and_disabled_never_fire() -> None:
    det = BargeInDetector(BargeInConfig(min_speech_ms=200))
    assert feed(det, ([0.99] * 7 + [0.0] * 5) * 10) == []  # 140 ms coughs
    off = BargeInDetector(BargeInConfig(enabled=False))
    assert feed(off, [0.99] * 100) == []


# ---- real audio ---------------------------------------------------------------------




LINE_NOISE_DBFS = -60.0  # a quiet phone line: Silero is primed on it, as in a real call


def on_a_line(path: Path, lead_s: float, tail_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(clean clip with silence around it, the same plus white line noise)."""
    clean = np.concatenate([np.zeros(round(lead_s * SAMPLE_RATE)), load16(path), np.zeros(round(tail_s * SAMPLE_RATE))])
    noise = np.random.default_rng(len(clean)).normal(0.0, 10 ** (LINE_NOISE_DBFS / 20), len(clean))
    return clean.astype(np.float32), (clean + noise).astype(np.float32)


def first_trigger(x: np.ndarray, model: SileroModel, config: BargeInConfig) -> int | None:
    """Frame index at which barge-in fires on the phone-path version of x."""
    vad, det = SileroVad(model), BargeInDetector(config)
    data = (np.clip(through_phone(x), -1, 1) * 32767).astype("<i2").tobytes()
    for i, frame in enumerate(split_frames(data)):
        if det.update(vad.probability(frame)):
            return i
    return None


def onset_frame(x: np.ndarray) -> int:
    """First 20 ms frame within 30 dB of the loudest one (measured on the clean signal)."""
    db = frame_db(x)
    return int(np.argmax(db > db.max() - 30))


def test_speech_stops_playback_within_300_ms(data: Path, model: SileroModel) -> None:
    delays_ms = []
    for path in sorted((data / "noizeus" / "clean").glob("*.flac")):
        clean, x = on_a_line(path, lead_s=2.0)
        fired = first_trigger(x, model, BargeInConfig())
        assert fired is not None, path.name
        delays_ms.append((fired + 1 - onset_frame(clean)) * 20)  # decided at the end of frame `fired`
    print("barge-in delay ms:", sorted(delays_ms))
    assert max(delays_ms) < 300, delays_ms  # measured p50 220, max 280 (240 on a silent line)


def test_coughs_and_clicks_rarely_stop_playback(data: Path, model: SileroModel) -> None:
    # clips (2-4 s, several events each) that fire at least once; measured on a -60 dBFS
    # line: coughing 2/19, lip-smacking 0/23, tongue-clicking 1/21, throat-clearing ~13/25
    # (a voiced "ahem" is speech to Silero for 200+ ms)
    limits = {"coughing": 4 / 19, "lip-smacking": 2 / 23, "tongue-clicking": 3 / 21, "throat-clearing": 0.7}
    rates = {}
    for cls in limits:
        paths = sorted((data / "nonverbal" / cls).glob("*.flac"))
        assert paths, cls
        fired = [first_trigger(on_a_line(p, lead_s=1.0)[1], model, BargeInConfig()) is not None for p in paths]
        rates[cls] = float(np.mean(fired))
    print("barge-in false-trigger rate per clip:", rates)
    for cls, limit in limits.items():
        assert rates[cls] <= limit, rates
