"""Scoring whole files with the three audio models: segments and the documented aggregate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion.audio import load_audio
from emotion.scorer import AudioScorer
from emotion.training.data import RAVDESS_EMOTIONS, nonverbal_clips, ravdess_clips


@pytest.fixture(scope="module")
def scorer() -> AudioScorer:
    return AudioScorer.load()


def test_one_encoding_feeds_all_three_models(scorer: AudioScorer) -> None:
    assert scorer.prosody.features is scorer.embedding.features is scorer.burst.speech


def test_speech_file(scorer: AudioScorer, shared: Path) -> None:
    clip = next(c for c in ravdess_clips(shared) if c.actor == 22 and c.emotion == "angry" and c.strong)
    scores = scorer.score_file(clip.path)
    assert len(scores.segments) == 2  # RAVDESS clips are ~3.5-4 s
    assert set(scores.prosody.emotions) == set(RAVDESS_EMOTIONS)
    assert abs(sum(scores.prosody.emotions.values()) - 1) < 1e-5
    assert abs(sum(scores.burst.emotions.values()) - 1) < 1e-5
    assert abs(sum(scores.burst.affect.values()) - 1) < 1e-5 and len(scores.burst.affect) == 30
    assert np.isclose(np.linalg.norm(scores.embedding), 1.0, atol=1e-5)
    d = scores.as_dict()
    assert set(d) == {"prosody", "burst", "embedding", "segments"}
    assert d["segments"][0]["time"] == {"begin": 0.0, "end": 2.0}


def test_aggregate_keeps_a_burst_that_one_segment_has(scorer: AudioScorer, shared: Path) -> None:
    """Speech, then a real sigh: the file's burst is the sigh segment's, the prosody the average."""
    speech = load_audio(next(c for c in ravdess_clips(shared) if c.actor == 21 and c.emotion == "neutral").path)[:64000]
    sigh = load_audio(next(c for c in nonverbal_clips(shared) if c.label == "sighing").path)[:32000]
    scores = scorer.score_audio(np.concatenate([speech, np.pad(sigh, (0, 32000 - sigh.size))]))
    assert len(scores.segments) == 3
    burstiest = min(scores.segments, key=lambda s: s.burst.emotions["none"])
    assert scores.burst == burstiest.burst
    assert scores.burst.emotions["none"] <= scores.segments[0].burst.emotions["none"]
    voiced = [s for s in scores.segments if not s.prosody.no_signal]
    # The rule: the segments' valence weighted by their length (the last one is shorter here).
    expected = np.average([s.prosody.valence for s in voiced], weights=[s.end - s.begin for s in voiced])
    assert scores.prosody.valence == pytest.approx(expected, abs=1e-6)


def test_silent_file_is_no_signal(scorer: AudioScorer) -> None:
    scores = scorer.score_audio(np.zeros(16000 * 3, np.float32))
    assert scores.prosody.no_signal and scores.burst.no_signal
    assert not np.any(scores.embedding)
    assert scores.as_dict()["prosody"]["no_signal"] is True
    assert scores.as_dict()["burst"]["affect"]["Neutral"] == 1.0
