"""Private per-process directories in the temp dir, and the ones a killed process left behind.

The front makes two: its prometheus multiprocess directory (agent/app/metrics_dir.py) and its
model host's socket and phrase file (agent/services/model_host.py). Both are removed at a clean
stop; a front killed with SIGKILL cannot, so each name carries its owner's pid and the next
front removes those whose owner is gone (``remove_orphans``)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path


def make_private_dir(prefix: str) -> Path:
    """A new 0700 directory ``<tmp>/<prefix><pid>-<random>``."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def remove_orphans(prefix: str, base: Path | None = None) -> list[Path]:
    """Removes this user's ``<prefix><pid>-*`` directories whose process is gone; returns them."""
    base = base or Path(tempfile.gettempdir())
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)-")
    removed = []
    for path in base.glob(f"{prefix}*"):
        match = pattern.match(path.name)
        try:
            ours = path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid()
        except OSError:
            continue
        if match and ours and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


__all__ = ["make_private_dir", "remove_orphans"]
