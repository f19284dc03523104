"""YAMNet TFLite wrapper: windows, outputs, model lookup and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion import yamnet
from emotion.audio import load_audio
from emotion.models.base import ModelLoadError
from emotion.training.data import nonverbal_clips


@pytest.fixture(scope="module")
def net() -> yamnet.YAMNet:
    return yamnet.load()


def test_window_starts_cover_the_clip() -> None:
    assert yamnet.window_starts(8000) == [0]
    assert yamnet.window_starts(15_600) == [0]
    starts = yamnet.window_starts(32_000)
    assert starts[0] == 0 and starts[-1] + yamnet.WINDOW_SAMPLES == 32_000 and len(starts) == 3
    assert max(np.diff(starts)) <= round(yamnet.DEFAULT_HOP_S * 16000)


def test_hears_a_real_laugh_and_a_cough(net: yamnet.YAMNet, shared: Path) -> None:
    names = net.class_names
    assert len(names) == yamnet.N_CLASSES and names[0] == "Speech"
    for folder, expected in (("laughing", "Laughter"), ("coughing", "Cough")):
        clip = next(c for c in nonverbal_clips(shared) if c.label == folder)
        scores, emb = net.frames(load_audio(clip.path)[:32000])
        assert scores.shape == (3, yamnet.N_CLASSES) and emb.shape == (3, yamnet.EMBEDDING_DIM)
        assert scores.max(0)[names.index(expected)] > 0.3, folder


def test_short_and_silent_windows(net: yamnet.YAMNet) -> None:
    scores, emb = net.frames(np.zeros(1000, np.float32))
    assert scores.shape == (1, yamnet.N_CLASSES) and np.all(np.isfinite(emb))


def test_missing_model_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        yamnet.YAMNet(tmp_path / "nope.tflite")
    monkeypatch.setenv(yamnet.YAMNET_ENV, str(tmp_path / "nope.tflite"))
    assert yamnet.candidate_paths()[0] == tmp_path / "nope.tflite"


def test_prepare_copies_model_and_class_map(tmp_path: Path) -> None:
    path = yamnet.prepare(tmp_path / "models")
    assert path.is_file() and (path.parent / yamnet.CLASS_MAP_FILE).is_file()
    assert yamnet.prepare(tmp_path / "models") == path  # idempotent
    with pytest.raises(ModelLoadError, match="no YAMNet to copy"):
        yamnet.prepare(tmp_path / "x", source_dir=tmp_path / "empty")
