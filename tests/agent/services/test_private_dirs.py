"""Private directories carry their owner's pid; a killed owner's are removed by the next front."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agent.services.private_dirs import make_private_dir, remove_orphans


def test_a_private_dir_is_this_users_alone_and_names_its_owner(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    path = make_private_dir("bedside-test-")
    assert path.parent == tmp_path and path.name.startswith(f"bedside-test-{os.getpid()}-")
    assert path.stat().st_mode & 0o777 == 0o700


def test_only_directories_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    orphan = tmp_path / f"bedside-test-{dead_pid}-abc"
    live = tmp_path / f"bedside-test-{os.getpid()}-def"
    unnamed = tmp_path / "bedside-test-xyz"  # not ours to judge: no pid in the name
    other = tmp_path / f"else-{dead_pid}-abc"
    for path in (orphan, live, unnamed, other):
        path.mkdir()
        (path / "models.sock").write_text("")
    assert remove_orphans("bedside-test-", tmp_path) == [orphan]
    assert not orphan.exists() and live.exists() and unnamed.exists() and other.exists()
