"""The local spool: row writes kept on disk while the store cannot take them.

JSON lines of :class:`RowWrite` (PHI already encrypted), one file per process
(``<host>-<worker>-<pid>.jsonl``), appended and fsynced per batch, so a crash while the store is
down loses nothing either. The file is held under an exclusive ``flock`` by its process; a
process replays its own file and any file whose owner is gone (the lock is free), oldest first,
then deletes it. Replaying twice is harmless: every write is idempotent (rows.py)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from agent.services.records.rows import RowWrite

REPLAY_CHUNK = 500


class SpoolFull(OSError):
    """The spool reached ``records.spool_max_mb``."""


class Spool:
    def __init__(self, directory: Path, name: str, max_bytes: int) -> None:
        self.directory = directory
        self.path = directory / f"{name}-{os.getpid()}.jsonl"
        self.max_bytes = max_bytes
        self._file: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Unbuffered: a write that fails (disk full) leaves nothing behind in a buffer that a
            # later flush or close would write (or fail on) out of turn.
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - held open, closed in close()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self._file

    def append(self, writes: Sequence[RowWrite]) -> None:
        """Durable when it returns (fsync); raises OSError (disk full, SpoolFull) when it is not,
        and then none of ``writes`` is in the file."""
        if not writes:
            return
        data = memoryview("".join(w.to_json() + "\n" for w in writes).encode())
        out = self._open()
        start = os.fstat(out.fileno()).st_size
        if start + len(data) > self.max_bytes:
            raise SpoolFull(f"{self.path}: the spool is at its limit ({self.max_bytes // 1_000_000} MB)")
        try:
            while data:
                data = data[out.write(data):]
            os.fsync(out.fileno())
        except OSError:
            out.truncate(start)  # no part of a refused batch stays (it is counted lost)
            raise

    def pending(self) -> list[Path]:
        """Spool files to replay: this process's and those no live process holds, oldest first."""
        if not self.directory.is_dir():
            return []
        files = sorted(self.directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        return [p for p in files if p == self.path or _unheld(p)]

    def bytes_pending(self) -> int:
        return sum(p.stat().st_size for p in self.pending())

    @property
    def rejected_path(self) -> Path:
        return self.directory / f"{self.path.stem}.rejected"

    def reject(self, line: str, why: str) -> None:
        """Set aside what the store refuses (or a line that is not a row write): kept for a person
        to look at (``*.rejected``, never replayed), so one bad write cannot block all the others."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.rejected_path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"why": why, "line": line.rstrip("\n")}) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def replay(self, apply: Callable[[Sequence[RowWrite]], None]) -> int:
        """Hand every pending write to ``apply`` in order, in chunks; a file is deleted once all
        of it went in. An exception from ``apply`` stops the replay with the file kept; a line
        that is not a row write is set aside (:meth:`reject`)."""
        replayed = 0
        for path in self.pending():
            for chunk in _chunks(path, self.reject):
                apply(chunk)
                replayed += len(chunk)
            if path == self.path:
                self.close()
            path.unlink(missing_ok=True)
        return replayed

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # releases the lock
            self._file = None


def _unheld(path: Path) -> bool:
    try:
        with open(path, "rb") as probe:
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False
    except FileNotFoundError:
        return False


def _chunks(path: Path, reject: Callable[[str, str], None]) -> Iterator[list[RowWrite]]:
    chunk: list[RowWrite] = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.endswith("\n"):
                break  # a line cut by a crash mid-write: never fsynced, so never counted as kept
            try:
                chunk.append(RowWrite.from_json(line))
            except (ValueError, KeyError) as exc:
                reject(line, f"{path}:{number}: not a spool line ({exc})")
                continue
            if len(chunk) >= REPLAY_CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


__all__ = ["Spool", "SpoolFull"]
