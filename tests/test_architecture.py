"""The layer contract (pyproject.toml [tool.importlinter]; docs/architecture.md).

It holds on the code as it is, and it fails the moment a lower layer imports a higher one: the
test copies the packages' Python files into a temporary tree, adds one upward import
(telephony -> agent.app, the kind of shortcut the contract exists to stop) and runs the same
`lint-imports` on the copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "telephony", "emotion", "graph", "tts")
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _copy_tree(dest: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    for package in PACKAGES:
        for source in (REPO / package).rglob("*.py"):
            target = dest / source.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)


def test_the_layers_point_down() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    assert _lint(tmp_path).returncode == 0  # the copy alone is as clean as the repo
    barge_in = tmp_path / "telephony" / "barge_in.py"
    barge_in.write_text(barge_in.read_text() + "\nfrom agent.app.config import BedsideConfig  # upward\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "telephony is not allowed to import agent.app" in result.stdout, result.stdout
    assert "telephony.barge_in -> agent.app.config" in result.stdout, result.stdout


def test_training_code_is_not_imported_by_a_call() -> None:
    # The second contract: a wheel without emotion/training still runs calls.
    result = _lint(REPO)
    assert "Nothing that runs a call imports emotion.training KEPT" in result.stdout, result.stdout
