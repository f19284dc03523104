"""Finding ../shared (emotion/shared_dir.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotion.shared_dir import DataMissing, shared_root


def test_bedside_shared_points_at_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("BEDSIDE_SHARED", str(tmp_path))
    assert shared_root() == tmp_path


def test_a_folder_without_data_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEDSIDE_SHARED", str(tmp_path))
    with pytest.raises(DataMissing, match="BEDSIDE_SHARED"):
        shared_root()
    assert issubclass(DataMissing, FileNotFoundError)
