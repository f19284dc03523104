"""The spool (spool.py): JSON lines of row writes, fsynced, one file per process under flock.
Replay keeps the order, takes orphaned files but never a live process's, skips a line a crash
cut short, stops (keeping the file) when the store refuses, and the size limit is enforced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.services.records.rows import RowWrite, WriteKind
from agent.services.records.spool import REPLAY_CHUNK, Spool, SpoolFull
from tests.processes import REPO

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def write(n: int, call: str = "c1") -> RowWrite:
    return RowWrite(WriteKind.INSERT, "replies", {"call_id": call, "seq": n, "at": T0 + timedelta(seconds=n),
                                                  "blob": n.to_bytes(2, "big")})


class Store:
    """What replay hands writes to: records every chunk; ``fail_at`` raises on that call."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.chunks: list[list[RowWrite]] = []
        self.fail_at = fail_at

    def apply(self, writes: Sequence[RowWrite]) -> None:
        if self.fail_at is not None and len(self.chunks) == self.fail_at:
            self.fail_at = None
            raise ConnectionError("store down")
        self.chunks.append(list(writes))

    @property
    def writes(self) -> list[RowWrite]:
        return [w for chunk in self.chunks for w in chunk]


def test_appended_writes_replay_in_order_and_the_file_goes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "host-1", 1_000_000)
    assert spool.pending() == [] and spool.replay(Store().apply) == 0  # no directory yet
    spool.append([write(1), write(2)])
    spool.append([])
    spool.append([write(3)])
    assert spool.path.name == f"host-1-{os.getpid()}.jsonl" and spool.pending() == [spool.path]
    assert len(spool.path.read_text().splitlines()) == 3  # on disk once append returns
    assert spool.bytes_pending() == spool.path.stat().st_size > 0
    store = Store()
    assert spool.replay(store.apply) == 3
    assert store.writes == [write(1), write(2), write(3)]
    assert not spool.path.exists() and spool.pending() == [] and spool.bytes_pending() == 0
    spool.append([write(4)])  # the spool is usable after a replay
    store = Store()
    assert spool.replay(store.apply) == 1 and store.writes == [write(4)]
    spool.close()


def test_replay_goes_in_chunks_keeping_the_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "host-1", 10_000_000)
    total = REPLAY_CHUNK * 2 + 7
    spool.append([write(n) for n in range(total)])
    store = Store()
    assert spool.replay(store.apply) == total
    assert [len(c) for c in store.chunks] == [REPLAY_CHUNK, REPLAY_CHUNK, 7]
    assert [w.values["seq"] for w in store.writes] == list(range(total))


def test_a_live_spools_file_is_left_alone_and_replayed_once_released(tmp_path: Path) -> None:
    """Two spools in one process hold their files through two open file descriptions: flock
    conflicts between them exactly as between two processes."""
    other = Spool(tmp_path, "host-2", 1_000_000)
    other.append([write(1, "c2"), write(2, "c2")])
    mine = Spool(tmp_path, "host-1", 1_000_000)
    mine.append([write(1)])
    assert mine.pending() == [mine.path]
    store = Store()
    assert mine.replay(store.apply) == 1 and store.writes == [write(1)]
    assert other.path.exists()
    other.close()  # its process is gone: the lock is free
    assert mine.pending() == [other.path]
    store = Store()
    assert mine.replay(store.apply) == 2 and store.writes == [write(1, "c2"), write(2, "c2")]
    assert list(tmp_path.iterdir()) == []


def test_another_processs_file_waits_until_that_process_is_gone(tmp_path: Path) -> None:
    holder = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from agent.services.records.rows import RowWrite, WriteKind
        from agent.services.records.spool import Spool
        spool = Spool(Path({str(tmp_path)!r}), "host-9", 1_000_000)
        spool.append([RowWrite(WriteKind.INSERT, "replies", {{"call_id": "c9", "seq": n}}) for n in range(3)])
        print(spool.path, flush=True)
        sys.stdin.read()  # holds the file (and its lock) until the test closes stdin
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        theirs = Path(proc.stdout.readline().strip())  # type: ignore[union-attr]
        assert theirs.name == f"host-9-{proc.pid}.jsonl" and theirs.exists()
        mine = Spool(tmp_path, "host-1", 1_000_000)
        assert mine.pending() == []
        store = Store()
        assert mine.replay(store.apply) == 0 and store.chunks == [] and theirs.exists()
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        assert proc.wait(20) == 0
    assert mine.pending() == [theirs]
    assert mine.replay(store.apply) == 3
    assert [(w.values["call_id"], w.values["seq"]) for w in store.writes] == [("c9", 0), ("c9", 1), ("c9", 2)]
    assert not theirs.exists()


def test_orphaned_files_replay_oldest_first(tmp_path: Path) -> None:
    names = ("host-a", "host-b", "host-c")
    for age, name in zip((10, 30, 20), names):
        spool = Spool(tmp_path, name, 1_000_000)
        spool.append([write(age, name)])
        spool.close()
        stamp = time.time() - age
        os.utime(spool.path, (stamp, stamp))
    store = Store()
    assert Spool(tmp_path, "host-1", 1_000_000).replay(store.apply) == 3
    assert [w.values["call_id"] for w in store.writes] == ["host-b", "host-c", "host-a"]


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    crashed = Spool(tmp_path, "host-2", 1_000_000)
    crashed.append([write(1), write(2)])
    crashed.close()
    with crashed.path.open("a") as out:
        out.write(write(3).to_json()[:25])  # the process died mid-write: no newline, never fsynced
    store = Store()
    assert Spool(tmp_path, "host-1", 1_000_000).replay(store.apply) == 2
    assert store.writes == [write(1), write(2)] and not crashed.path.exists()


def test_a_corrupt_line_is_set_aside_naming_the_file_and_line_and_the_rest_is_replayed(tmp_path: Path) -> None:
    broken = Spool(tmp_path, "host-2", 1_000_000)
    broken.append([write(1)])
    broken.close()
    with broken.path.open("a") as out:
        out.write("{not json\n" + write(2).to_json() + "\n")
    replayer = Spool(tmp_path, "host-1", 1_000_000)
    store = Store()
    assert replayer.replay(store.apply) == 2  # one bad line does not block the others
    assert store.writes == [write(1), write(2)] and not broken.path.exists()
    (kept,) = [json.loads(line) for line in replayer.rejected_path.read_text().splitlines()]
    assert kept["line"] == "{not json" and kept["why"].startswith(f"{broken.path}:2: not a spool line"), kept
    assert replayer.pending() == []  # set aside for a person, never replayed


def test_the_spool_refuses_writes_beyond_its_limit(tmp_path: Path) -> None:
    line = len(write(1).to_json()) + 1
    spool = Spool(tmp_path, "host-1", 3 * line + 2)
    spool.append([write(1), write(2)])
    with pytest.raises(SpoolFull, match=f"{spool.path}: the spool is at its limit") as caught:
        spool.append([write(3), write(4)])
    assert isinstance(caught.value, OSError)  # the writer counts it as lost, like a full disk
    spool.append([write(3)])  # what still fits goes in
    with pytest.raises(SpoolFull):
        spool.append([write(4)])
    store = Store()
    assert spool.replay(store.apply) == 3 and store.writes == [write(1), write(2), write(3)]
    spool.append([write(4)])  # replayed: room again
    spool.close()


def test_a_failing_store_stops_the_replay_and_keeps_the_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "host-1", 10_000_000)
    total = REPLAY_CHUNK + 10
    spool.append([write(n) for n in range(total)])
    store = Store(fail_at=1)  # the second chunk fails
    with pytest.raises(ConnectionError):
        spool.replay(store.apply)
    assert len(store.writes) == REPLAY_CHUNK and spool.path.exists()
    spool.append([write(total)])  # still this process's, still appendable
    assert spool.pending() == [spool.path]
    again = Store()
    assert spool.replay(again.apply) == total + 1  # from the start: writes are idempotent
    assert [w.values["seq"] for w in again.writes] == list(range(total + 1))
    assert not spool.path.exists()


def test_an_orphaned_file_stays_when_the_store_fails(tmp_path: Path) -> None:
    gone = Spool(tmp_path, "host-2", 1_000_000)
    gone.append([write(1, "c2")])
    gone.close()
    mine = Spool(tmp_path, "host-1", 1_000_000)
    with pytest.raises(ConnectionError):
        mine.replay(Store(fail_at=0).apply)
    assert gone.path.exists()
    store = Store()
    assert mine.replay(store.apply) == 1 and not gone.path.exists()


def test_a_full_disk_refuses_a_batch_whole_and_the_spool_goes_on(tmp_path: Path) -> None:
    """On a real 64 kB tmpfs: a batch that does not fit leaves no part of itself in the file (or
    in a buffer a later flush would write), and the spool works again once there is room."""
    disk = tmp_path / "disk"
    disk.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(disk)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.fail(f"this test mounts a 64 kB tmpfs at {disk} and cannot: {out.stderr.strip()} "
                    "(it needs root with CAP_SYS_ADMIN, as in CI)", pytrace=False)
    try:
        spool = Spool(disk, "host-1", 10_000_000)
        kept, refused = [], []
        for n in range(40):
            batch = [RowWrite(WriteKind.INSERT, "replies", {"call_id": "c1", "seq": n, "pad": "x" * 1500})] * 2
            try:
                spool.append(batch)
                kept.append(n)
            except OSError as exc:
                assert exc.errno == 28  # ENOSPC
                refused.append(n)
            assert spool.path.read_bytes().endswith(b"\n")  # complete lines only, after every attempt
        assert kept and refused and kept == list(range(len(kept)))
        store = Store()  # the disk still full: replay (and its close()) must not fail
        assert spool.replay(store.apply) == 2 * len(kept)
        assert [w.values["seq"] for w in store.writes] == [n for n in kept for _ in range(2)]
        spool.append([write(1)])
        assert spool.replay(Store().apply) == 1
        spool.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
