"""The data set readers (emotion/training/data.py) on ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotion.shared_dir import DataMissing
from emotion.training.data import RAVDESS_EMOTIONS, getgoing_calls, goemotions, nonverbal_clips, ravdess_clips


def test_ravdess(shared: Path) -> None:
    clips = ravdess_clips(shared)
    assert len(clips) == 1440
    assert {c.emotion for c in clips} == set(RAVDESS_EMOTIONS)
    assert {c.actor for c in clips} == set(range(1, 25))


def test_goemotions_and_nonverbal(shared: Path) -> None:
    labels, rows = goemotions("test", shared)
    assert len(labels) == 28 and labels[-1] == "neutral" and len(rows) == 5427
    assert nonverbal_clips(shared)


def test_a_missing_data_set_says_where(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(DataMissing, match="ravdess"):
        ravdess_clips(tmp_path)


def test_the_old_module_name_is_gone() -> None:
    # Data set readers are training code: the runtime package has no emotion.data any more.
    with pytest.raises(ModuleNotFoundError):
        __import__("emotion.data")


def test_getgoing_calls_split_by_call(shared: Path) -> None:
    calls = getgoing_calls(shared)
    assert len(calls) == 60 and sum(1 for c in calls if c.user_turns) == 52  # 2 lack their JSON, 6 callers never spoke
    dev, test = getgoing_calls(shared, "dev"), getgoing_calls(shared, "test")
    assert len(dev) + len(test) == 60 and 10 <= len(test) <= 30
    assert not {c.uuid for c in dev} & {c.uuid for c in test}
    assert all(c.audio.is_file() and not t.startswith("USER") for c in calls for t in c.user_turns)
