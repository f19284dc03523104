"""The wheel: the trained emotion heads ship with it, training code does not.

Built from the working tree with the installed setuptools (no network), in a copy so the
repo's own build/ and egg-info do not leak into it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "telephony", "emotion", "graph", "tts")

pytestmark = pytest.mark.slow


def test_the_wheel_has_the_weights_and_no_training_code(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = out.glob("bedside-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("emotion/training/")], names
    for model in ("prosody", "burst", "language", "embedding"):
        assert f"emotion/models/weights/{model}.npz" in names and f"emotion/models/weights/{model}.json" in names
    assert "agent/call/call_agent.py" in names and "telephony/frames.py" in names
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = zipfile.ZipFile(wheel).read(metadata).decode()
    assert 'scikit-learn==1.9.1; extra == "train"' in requires.replace("'", '"'), requires
