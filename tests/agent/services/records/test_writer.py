"""The records writer (writer.py) against a real SQLite file and a real PostgreSQL: entries are
committed at once, a store that goes away (PostgreSQL stopped, SQLite on a full disk, a corrupt
file, a wrong key) only sends them to the spool and they are all stored once it is back, a full
queue spills to the spool without losing anything, a spool that cannot be written is a loud,
counted loss, close() flushes, and calls a crash cut off are marked interrupted."""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from agent.services.metrics import Metrics
from agent.services.records import schema
from agent.services.records.config import RecordsConfig
from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    CallOpened,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TranscriptLogged,
    TurnTimed,
    UtteranceScored,
    WebhookOrder,
)
from agent.services.records.rows import RowMaker, RowWrite, utc_now
from agent.services.records.spool import Spool
from agent.services.records.store import RecordStore, StoreError
from agent.services.records.writer import RecordWriter
from tests.postgres import PostgresServer

KEYS = KeyRing.of([new_key()], "test keys")
HOST = "clinic-a"
SLOTS = {"full_name": "Maria Lopez", "date_of_birth": "1985-03-03", "callback_phone": "5550104477"}


# ---- backends ------------------------------------------------------------------------------------
@dataclass
class Backend:
    name: str
    url: str
    file: Path | None = None
    server: PostgresServer | None = None


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        file = tmp_path / "db" / "records.sqlite3"
        return Backend("sqlite", f"sqlite:///{file}", file=file)
    return Backend("postgresql", request.getfixturevalue("postgres_url"),
                   server=request.getfixturevalue("postgres_server"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``small_disk("256k")``: a directory on a tmpfs of that size (a disk that fills up for real)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            pytest.fail(f"the full-disk tests mount a {size} tmpfs at {where} and cannot: {out.stderr.strip()} "
                        "(they need root with CAP_SYS_ADMIN, as in CI)", pytrace=False)
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fills ``disk`` to the last byte; returns the file to delete to free it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError:
                pass
    return filler


# ---- writers ---------------------------------------------------------------------------------------
@dataclass
class Harness:
    writer: RecordWriter
    metrics: Metrics
    reader: RecordStore

    @property
    def status(self):
        return self.writer.status

    def counts(self) -> dict[str, int]:
        with self.reader.reading() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in schema.metadata.sorted_tables if t.name not in ("key_checks", "audit_log", "staff", "console_sessions", "corrections")}

    def calls(self) -> dict[str, str]:
        with self.reader.reading() as conn:
            return dict(conn.execute(select(schema.calls.c.id, schema.calls.c.status)).all())


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(url: str, *, keys: KeyRing = KEYS, spool_dir: Path | None = None, spool_max: int = 50_000_000,
             retry_s: float = 0.1, queue_size: int = 10_000, worker: int = 1, start: bool = True,
             on_committed: Callable[[Sequence[RowWrite]], None] | None = None) -> Harness:
        metrics = Metrics()
        maker = RowMaker(keys, True, timedelta(days=1))
        spool = Spool(spool_dir or tmp_path / "spool", f"{HOST}-{worker}", spool_max)
        writer = RecordWriter(RecordStore(url, keys), maker, spool, metrics, host=HOST, worker=worker, retry_s=retry_s,
                              queue_size=queue_size, on_committed=on_committed)
        h = Harness(writer, metrics, RecordStore(url, KEYS))
        made.append(h)
        if start:
            writer.start()
        return h

    yield make
    for h in made:
        if h.writer._thread.ident is not None:
            h.writer.close(10)
        h.reader.dispose()


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline, last = time.monotonic() + timeout, ""
    while True:
        try:
            if check():
                return
        except StoreError as exc:  # e.g. the writer has not created the schema yet
            last = f" (last: {exc})"
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}{last}")
        time.sleep(0.01)


# ---- calls -------------------------------------------------------------------------------------------
def opened(call_id: str, started: datetime | None = None, worker: int = 1) -> CallOpened:
    return CallOpened(call_id, started or utc_now(), HOST, worker, "g-1", "sip:+15550104477@pbx.example.org")


def middle(call_id: str, first: int, last: int) -> list:
    """Turns ``first``..``last`` of a call: replies, words, timings, the emotional timeline, an action each."""
    out: list = []
    for n in range(first, last + 1):
        out += [
            ReplyLogged(call_id, n, n * 3.0, f"turn-{n}", n, "triage", "warm", "default"),
            TranscriptLogged(call_id, n, n * 3.0 + 1, f"turn {n}: this is Maria Lopez"),
            TurnTimed(call_id, n, 1.5, {"vad_ms": 200, "transcript_ms": 300, "reply_ready_ms": 600, "first_audio_ms": 800}),
            SegmentScored(call_id, n, n * 3.0, n * 3.0 + 1.5, -0.1, 0.3, "none", 0.0, {"pitch_mean": 170.0},
                          tuple(float(i) for i in range(64))),
            UtteranceScored(call_id, n, n * 3.0 + 1, -0.1, 0.3, (("calm", 0.6),)),
            StateChanged(call_id, n, n * 3.0 + 1.2, -0.1, 0.3, "steady", 0.8, True, None),
        ]
        if n % 3 == 0:
            out.append(ActionLogged(call_id, n, utc_now(), "callback", node="callback", target="front_desk",
                                    priority="routine", reason="call back", slots=SLOTS, work_item="callback"))
        elif n % 3 == 1:
            out.append(ActionLogged(call_id, n, utc_now(), "webhook", node="callback", target="callback.requested",
                                    slots=SLOTS, webhook=WebhookOrder("https://hooks.example.org/in", 5.0, {"slots": SLOTS})))
    return out


def closed(call_id: str, turns: int = 3) -> CallClosed:
    return CallClosed(call_id, utc_now(), "caller hung up", turns, 0, 0, False, False, -0.1, 0.3, "steady")


TABLE_OF = {CallOpened: "calls", ReplyLogged: "replies", TranscriptLogged: "transcripts", TurnTimed: "turn_timings",
            ActionLogged: "actions", SegmentScored: "emotion_segments", UtteranceScored: "emotion_utterances",
            StateChanged: "emotion_states"}


def expected(entries: list) -> dict[str, int]:
    """The rows ``entries`` must leave, each once (worked out from the entries, not by rows.py)."""
    rows: Counter[str] = Counter({t: 0 for t in set(TABLE_OF.values()) | {"work_items", "webhook_outbox"}})
    for e in entries:
        if type(e) in TABLE_OF:
            rows[TABLE_OF[type(e)]] += 1
        if isinstance(e, ActionLogged):
            rows["work_items"] += e.work_item is not None
            rows["webhook_outbox"] += e.webhook is not None
    return dict(rows)


def spool_files(h: Harness) -> list[Path]:
    return sorted(h.writer.spool.directory.glob("*.jsonl")) if h.writer.spool.directory.is_dir() else []


# ---- the tests -----------------------------------------------------------------------------------------
def test_written_entries_are_committed(backend: Backend, harness) -> None:
    h = harness(backend.url)
    assert h.writer.wait_ready(15) is True
    entries = [opened("c1"), *middle("c1", 1, 4), closed("c1"), opened("c2"), *middle("c2", 1, 2)]
    for e in entries:
        h.writer.write(e)
    wait_until(lambda: h.counts() == expected(entries), what="every entry committed")
    assert h.calls() == {"c1": "ended", "c2": "active"}
    status = h.status
    assert status.healthy and status.spooled == status.lost == status.replayed == 0 and status.last_error is None
    assert status.committed == len([w for e in entries for w in h.writer.maker.rows(e)])
    assert h.metrics.percentiles("records_commit_ms")["n"] >= 1
    assert spool_files(h) == []


def test_an_action_is_committed_within_milliseconds_of_being_written(backend: Backend, harness) -> None:
    h = harness(backend.url)
    assert h.writer.wait_ready(15)
    h.writer.write(opened("c1"))
    wait_until(lambda: h.calls() == {"c1": "active"})
    actions = schema.actions
    took = []
    for seq in range(1, 8):
        started = time.perf_counter()
        h.writer.write(ActionLogged("c1", seq, utc_now(), "callback", target="front_desk", slots=SLOTS,
                                    work_item="callback"))
        with h.reader.engine.connect() as conn:
            query = select(func.count()).select_from(actions).where(actions.c.call_id == "c1", actions.c.seq == seq)
            while not conn.execute(query).scalar_one():
                conn.rollback()  # a fresh snapshot for the next look
                time.sleep(0.002)
                assert time.perf_counter() - started < 5, f"action {seq} not committed in 5 s"
        took.append(time.perf_counter() - started)
    # committed at once, not batched on a timer: well inside the sentence that announces it
    assert statistics.median(took) < 0.2 and max(took) < 1.0, [round(t * 1000) for t in took]


def test_postgresql_stopped_mid_call_loses_and_doubles_nothing(postgres_server: PostgresServer, postgres_url: str,
                                                               harness) -> None:
    h = harness(postgres_url, retry_s=0.2)
    assert h.writer.wait_ready(15)
    before = [opened("c1"), *middle("c1", 1, 3)]
    for e in before:
        h.writer.write(e)
    wait_until(lambda: h.counts() == expected(before), what="the first part committed")
    committed = h.status.committed

    postgres_server.stop("immediate")
    during = [*middle("c1", 4, 9), closed("c1", 9), opened("c2"), *middle("c2", 1, 5)]
    started = time.perf_counter()
    for e in during:
        h.writer.write(e)  # the call goes on: write() never waits for the store
    assert time.perf_counter() - started < 0.5
    spooled = len([w for e in during for w in h.writer.maker.rows(e)])
    wait_until(lambda: h.status.spooled == spooled, what="everything written while down is spooled")
    assert not h.status.healthy and h.status.committed == committed and h.status.lost == 0
    assert "127.0.0.1" in (h.status.last_error or "") and h.metrics.counter("records_store_down") >= 1
    assert sum(len(p.read_text().splitlines()) for p in spool_files(h)) == spooled
    time.sleep(0.5)  # a few retries against the stopped server change nothing
    assert h.status.spooled == spooled and h.status.replayed == 0

    postgres_server.start()
    wait_until(lambda: h.status.healthy and h.status.replayed == spooled, what="the writer back, the spool replayed")
    after = [*middle("c2", 6, 7), closed("c2", 7)]
    for e in after:
        h.writer.write(e)
    everything = before + during + after
    wait_until(lambda: h.counts() == expected(everything), what="every entry stored once")
    assert h.status.lost == 0 and spool_files(h) == []
    assert h.calls() == {"c1": "ended", "c2": "ended"} and h.status.interrupted == []  # its own calls: not cut off
    with h.reader.reading() as conn:
        segments = Counter(conn.execute(select(schema.emotion_segments.c.call_id, schema.emotion_segments.c.seq)).all())
    assert set(segments.values()) == {1} and len(segments) == 16
    time.sleep(0.3)
    assert h.counts() == expected(everything)  # and nothing more arrives later


def test_postgresql_stopped_while_entries_stream_in_stores_each_once(postgres_server: PostgresServer,
                                                                    postgres_url: str, harness) -> None:
    """The server goes down between (or during) commits: a batch it took just before it died is
    replayed from the spool too, and still stored once."""
    h = harness(postgres_url, retry_s=0.1)
    assert h.writer.wait_ready(15)
    entries = [opened("c1"), *middle("c1", 1, 50), closed("c1", 50), opened("c2"), *middle("c2", 1, 50)]

    def call() -> None:
        for e in entries:
            h.writer.write(e)
            time.sleep(0.001)

    caller = threading.Thread(target=call)
    caller.start()
    try:
        wait_until(lambda: h.status.committed > 40, what="the call under way")
        postgres_server.stop("immediate")
        wait_until(lambda: h.status.spooled > 0, what="the writer noticing")
    finally:
        caller.join(30)
        postgres_server.start()
    wait_until(lambda: h.status.healthy and h.counts() == expected(entries), what="every entry stored")
    wait_until(lambda: h.status.replayed == h.status.spooled, what="the replay counted")
    assert h.status.lost == 0 and spool_files(h) == [] and h.calls() == {"c1": "ended", "c2": "active"}
    with h.reader.reading() as conn:
        segments = conn.execute(select(schema.emotion_segments.c.call_id, schema.emotion_segments.c.seq)).all()
    assert len(segments) == len(set(segments)) == 100


def test_sqlite_on_a_full_disk_spools_and_everything_is_stored_once_there_is_room(tmp_path: Path, small_disk,
                                                                                   harness) -> None:
    disk = small_disk("2m")
    h = harness(f"sqlite:///{disk / 'records.sqlite3'}", spool_dir=tmp_path / "spool", retry_s=0.1)
    assert h.writer.wait_ready(15)
    before = [opened("c1"), *middle("c1", 1, 2)]
    for e in before:
        h.writer.write(e)
    wait_until(lambda: h.counts() == expected(before), what="the first part committed")
    filler = fill(disk)
    during = [*middle("c1", 3, 40), closed("c1", 40)]
    for e in during:
        h.writer.write(e)
    spooled = len([w for e in during for w in h.writer.maker.rows(e)])
    wait_until(lambda: h.status.spooled == spooled, what="everything written on the full disk is spooled")
    assert not h.status.healthy and h.status.lost == 0
    assert "full" in (h.status.last_error or ""), h.status.last_error
    assert h.counts() == expected(before)
    filler.unlink()
    wait_until(lambda: h.status.healthy and h.status.replayed == spooled, what="the spool replayed once there is room")
    assert h.counts() == expected(before + during) and spool_files(h) == []
    assert h.calls() == {"c1": "ended"}


@pytest.mark.parametrize("fault", ["corrupt file", "wrong key"])
def test_a_store_that_cannot_be_used_keeps_calls_going_and_their_records_spooled(tmp_path: Path, harness,
                                                                                 fault: str) -> None:
    file = tmp_path / "records.sqlite3"
    keys = KEYS
    if fault == "corrupt file":
        file.write_bytes(b"\x13garbage, not a database\n" * 400)
        reason = f"{file}: not a usable SQLite database"
    else:
        other = RecordStore(f"sqlite:///{file}", KeyRing.of([new_key()], "the clinic's key"))
        other.prepare(migrate=True)
        other.dispose()
        keys = KeyRing.of([new_key()], "a wrong key file")
        reason = "was written with key(s)"
    h = harness(f"sqlite:///{file}", keys=keys, start=False)
    with capture_logs() as logs:
        h.writer.start()
        assert h.writer.wait_ready(10) is False  # answered at once: not ready, calls are taken anyway
        entries = [opened("c1"), *middle("c1", 1, 3), closed("c1")]
        for e in entries:
            h.writer.write(e)
        spooled = len([w for e in entries for w in h.writer.maker.rows(e)])
        wait_until(lambda: h.status.spooled == spooled, what="the records spooled")
    assert reason in (h.status.last_error or ""), h.status.last_error
    assert h.status.lost == 0 and h.status.committed == 0 and not h.status.healthy
    down = [e for e in logs if e["event"] == "records_store_unavailable"]
    assert down and reason in down[0]["error"] and down[0]["log_level"] == "error"
    assert len(down) == 1, "the same error is logged once, not every retry"
    assert sum(len(p.read_text().splitlines()) for p in spool_files(h)) == spooled
    if fault == "corrupt file":  # the operator moves the file aside: the same writer takes it from there
        file.unlink()
        wait_until(lambda: h.status.healthy and h.status.replayed == spooled, what="the spool replayed")
        assert h.counts() == expected(entries) and spool_files(h) == [] and h.calls() == {"c1": "ended"}


def test_records_spooled_by_a_process_that_stopped_are_stored_by_the_next(tmp_path: Path, harness) -> None:
    file = tmp_path / "records.sqlite3"
    file.write_bytes(b"garbage\n" * 1000)
    first = harness(f"sqlite:///{file}", worker=1)
    entries = [opened("c1"), *middle("c1", 1, 3), closed("c1"), opened("c2"), *middle("c2", 1, 2)]
    for e in entries:
        first.writer.write(e)
    first.writer.close()
    assert first.status.committed == 0 and first.status.spooled > 0 and spool_files(first)
    (left,) = spool_files(first)
    left.rename(left.with_name(f"{HOST}-1-4000000.jsonl"))  # as a process with another pid left it
    file.unlink()  # the operator moved the bad file aside
    second = harness(f"sqlite:///{file}", worker=1)
    wait_until(lambda: second.status.replayed == first.status.spooled, what="the first process's spool replayed")
    assert second.counts() == expected(entries) and spool_files(second) == []
    # c2 never ended: the process answering it stopped before this one started
    assert second.calls() == {"c1": "ended", "c2": "interrupted"} and second.status.interrupted == ["c2"]


def test_a_full_queue_spills_to_the_spool_and_everything_is_stored(backend: Backend, harness) -> None:
    gate, stalled = threading.Event(), threading.Event()

    def slow_consumer(writes: Sequence[RowWrite]) -> None:  # stalls the writer thread after its first commit
        if not gate.is_set():
            stalled.set()
            gate.wait(20)

    h = harness(backend.url, queue_size=5, on_committed=slow_consumer)
    assert h.writer.wait_ready(15)
    h.writer.write(opened("c1"))
    assert stalled.wait(10)
    rest = [*middle("c1", 1, 4), closed("c1", 4)]
    started = time.perf_counter()
    for e in rest:
        h.writer.write(e)
    assert time.perf_counter() - started < 1.0
    overflow = rest[5:]
    assert h.metrics.counter("records_queue_full") == len(overflow)
    assert h.status.spooled == len([w for e in overflow for w in h.writer.maker.rows(e)]) and h.status.lost == 0
    gate.set()
    wait_until(lambda: h.status.replayed == h.status.spooled, what="the spilled entries replayed")
    assert h.counts() == expected([opened("c1"), *rest])
    assert h.calls() == {"c1": "ended"}  # in order: the close came last
    assert spool_files(h) == [] and h.status.lost == 0 and h.status.healthy
    h.writer.write(opened("c2"))  # caught up: the queue takes entries again
    wait_until(lambda: "c2" in h.calls(), what="a new entry committed after the catch-up")
    assert h.metrics.counter("records_queue_full") == len(overflow)


@pytest.mark.parametrize("spool_fault", ["under a file", "full disk"])
def test_a_spool_that_cannot_be_written_is_a_counted_loud_loss(tmp_path: Path, small_disk, harness,
                                                               spool_fault: str) -> None:
    if spool_fault == "under a file":
        (tmp_path / "not-a-dir").write_text("")
        spool_dir = tmp_path / "not-a-dir" / "spool"
    else:
        spool_dir = small_disk("64k") / "spool"
        fill(spool_dir.parent)
    file = tmp_path / "records.sqlite3"
    file.write_bytes(b"garbage\n" * 1000)  # the store is down too: the spool is the only way
    h = harness(f"sqlite:///{file}", spool_dir=spool_dir, start=False)
    with capture_logs() as logs:
        h.writer.start()
        assert h.writer.wait_ready(10) is False
        entries = [opened("c7"), *middle("c7", 1, 2), opened("c8")]
        for e in entries:
            h.writer.write(e)
        wait_until(lambda: h.status.lost == len(entries), what="every entry counted lost")
    assert h.status.spooled == 0 and h.metrics.counter("records_lost") == len(entries)
    lost = [e for e in logs if e["event"] == "records_lost"]
    assert lost and all(e["log_level"] == "error" and e["why"] == "store unavailable" for e in lost)
    assert sum(e["entries"] for e in lost) == len(entries)
    assert set().union(*(e["calls"] for e in lost)) == {"c7", "c8"}
    assert all(e["spool_error"] for e in lost)


def test_a_spool_disk_that_fills_up_loses_exactly_what_it_refused(tmp_path: Path, small_disk, harness) -> None:
    spool_dir = small_disk("64k") / "spool"
    file = tmp_path / "records.sqlite3"
    file.write_bytes(b"garbage\n" * 1000)
    h = harness(f"sqlite:///{file}", spool_dir=spool_dir, start=False)
    written = [f"c{n}" for n in range(40)]
    with capture_logs() as logs:
        h.writer.start()
        assert h.writer.wait_ready(10) is False
        for n, call in enumerate(written):  # ~3 kB each: the disk fills after about twenty
            h.writer.write(CallOpened(call, utc_now(), HOST, 1, "g-1", "sip:" + "7" * 2200 + "@pbx.example.org"))
            wait_until(lambda n=n: h.status.spooled + h.status.lost == n + 1, what=f"{call} spooled or lost")
        lost = set().union(*(e["calls"] for e in logs if e["event"] == "records_lost"))
        assert 0 < h.status.lost == len(lost) < len(written) and h.status.spooled == len(written) - len(lost)
        file.unlink()  # the store is back while the spool's disk is still full
        wait_until(lambda: h.status.healthy and h.status.replayed == h.status.spooled, what="the store back, replayed")
    assert set(h.calls()) == set(written) - lost  # all that was spooled; none of what was reported lost
    assert spool_files(h) == []
    h.writer.write(opened("after"))
    wait_until(lambda: "after" in h.calls(), what="the writer still writing")


def test_close_commits_everything_queued(backend: Backend, harness) -> None:
    gate, stalled = threading.Event(), threading.Event()

    def slow_consumer(writes: Sequence[RowWrite]) -> None:
        if not gate.is_set():
            stalled.set()
            gate.wait(20)

    h = harness(backend.url, on_committed=slow_consumer)
    assert h.writer.wait_ready(15)
    h.writer.write(opened("c1"))
    assert stalled.wait(10)
    rest = [*middle("c1", 1, 60), closed("c1", 60), opened("c2"), closed("c2", 0)]
    for e in rest:
        h.writer.write(e)  # all queued behind the stalled writer
    threading.Timer(0.2, gate.set).start()
    h.writer.close(20)
    assert not h.writer._thread.is_alive()
    assert h.counts() == expected([opened("c1"), *rest])  # at once, no waiting: close() flushed it
    assert h.calls() == {"c1": "ended", "c2": "ended"} and h.status.spooled == h.status.lost == 0


def test_from_config_keeps_records_under_the_data_dir(tmp_path: Path) -> None:
    config = RecordsConfig(data_dir=tmp_path / "var", retry_s=0.1, queue_size=100)
    metrics = Metrics()
    writer = RecordWriter.from_config(config, KEYS, metrics, HOST, 3)
    assert writer.spool.path.parent == tmp_path / "var" / "spool" and writer.spool.path.name.startswith(f"{HOST}-3-")
    assert writer.keeps_transcripts is False and writer.delivers_webhooks is True
    writer.start()
    try:
        assert writer.wait_ready(15)
        entries = [opened("c1", worker=3), *middle("c1", 1, 2), closed("c1", 2)]
        for e in entries:
            writer.write(e)
    finally:
        writer.close()
    reader = RecordStore(config.database_url(), KEYS)
    try:
        assert (tmp_path / "var" / "records.sqlite3").is_file()
        with reader.reading() as conn:
            assert conn.execute(select(func.count()).select_from(schema.transcripts)).scalar_one() == 0  # not kept
            assert conn.execute(select(func.count()).select_from(schema.replies)).scalar_one() == 2
    finally:
        reader.dispose()
    assert metrics.counter("records_lost") == 0 and writer.status.committed > 0
    elsewhere = RecordWriter.from_config(config.model_copy(update={"spool_dir": tmp_path / "other-disk"}), KEYS, metrics,
                                         HOST, 3)
    assert elsewhere.spool.path.parent == tmp_path / "other-disk"


def test_calls_a_crash_cut_off_are_marked_interrupted_on_start(backend: Backend, tmp_path: Path, harness) -> None:
    long_ago = utc_now() - timedelta(hours=2)
    setup = RecordStore(backend.url, KEYS)
    setup.prepare(migrate=True)
    setup.apply([w for e in [opened("old-active", long_ago), opened("old-ended", long_ago), closed("old-ended"),
                             opened("old-other-worker", long_ago, worker=2)]
                 for w in RowMaker(KEYS, True, timedelta(days=1)).rows(e)])
    setup.dispose()
    crashed = Spool(tmp_path / "spool", f"{HOST}-1-crashed", 1_000_000)  # its records were still in its spool
    crashed.append(RowMaker(KEYS, True, timedelta(days=1)).rows(opened("old-spooled", long_ago)))
    crashed.close()

    h = harness(backend.url, start=False)
    assert h.writer.started_at > long_ago
    h.writer.write(opened("new"))  # answered by this process: never its to mark
    with capture_logs() as logs:
        h.writer.start()
        assert h.writer.wait_ready(15)
        wait_until(lambda: "new" in h.calls())
    assert sorted(h.status.interrupted) == ["old-active", "old-spooled"]
    assert h.calls() == {"old-active": "interrupted", "old-spooled": "interrupted", "old-ended": "ended",
                         "old-other-worker": "active", "new": "active"}
    warned = [e for e in logs if e["event"] == "records_calls_interrupted"]
    assert len(warned) == 1 and sorted(warned[0]["calls"]) == ["old-active", "old-spooled"]


def test_a_write_the_database_refuses_is_set_aside_and_the_others_are_stored(backend: Backend, harness) -> None:
    """A reply for a call that has no row (a foreign key the database enforces) cannot be stored
    however often it is retried: it goes to the *.rejected file and the writer carries on."""
    h = harness(backend.url)
    assert h.writer.wait_ready(15) is True
    orphan = ReplyLogged("no-such-call", 0, 1.0, "greeting", None, "greeting", "neutral", "not_heard")
    entries = [opened("c1"), *middle("c1", 1, 2)]
    with capture_logs() as logs:
        h.writer.write(orphan)
        for e in entries:
            h.writer.write(e)
        wait_until(lambda: h.counts() == expected(entries), what="the good entries committed")
    assert h.status.rejected == 1 and h.status.healthy and h.status.lost == 0
    (kept,) = h.writer.spool.rejected_path.read_text().splitlines()
    assert "no-such-call" in kept
    (error,) = [e for e in logs if e["event"] == "records_rejected"]
    assert error["table"] == "replies" and error["call"] == "no-such-call"
    assert not spool_files(h)  # nothing waits for a retry that cannot succeed


def test_an_entry_no_row_can_hold_is_a_loud_loss_and_the_writer_goes_on(backend: Backend, harness) -> None:
    h = harness(backend.url)
    assert h.writer.wait_ready(15) is True
    naive = CallOpened("c0", datetime(2026, 12, 4, 9, 0), HOST, 1, None, "sip:x@y")  # no time zone
    entries = [opened("c1"), *middle("c1", 1, 1)]
    with capture_logs() as logs:
        h.writer.write(naive)
        for e in entries:
            h.writer.write(e)
        wait_until(lambda: h.counts() == expected(entries), what="the entries after the bad one committed")
    assert h.writer._thread.is_alive() and h.status.healthy
    assert h.status.rejected + h.status.lost == 1, h.status
    assert any(e["event"] in ("records_rejected", "records_lost") and e.get("log_level") == "error" for e in logs)


def test_close_spools_what_a_writer_stuck_in_the_store_still_holds(tmp_path: Path, harness) -> None:
    """A database that stops answering mid-transaction must not take the queued records with the
    process: close() gives up on the writer after its timeout and spools the rest itself."""
    h = harness(f"sqlite:///{tmp_path / 'db' / 'records.sqlite3'}")
    assert h.writer.wait_ready(15) is True
    stuck, release = threading.Event(), threading.Event()
    real_apply = h.writer.store.apply

    def hang(writes: Sequence[RowWrite]) -> None:
        stuck.set()
        release.wait(30)
        real_apply(writes)

    h.writer.store.apply = hang  # type: ignore[method-assign]
    h.writer.write(opened("c1"))
    assert stuck.wait(5)
    later = [*middle("c1", 1, 1), closed("c1", 1)]
    for e in later:
        h.writer.write(e)
    with capture_logs() as logs:
        h.writer.close(timeout=0.5)
    (error,) = [e for e in logs if e["event"] == "records_writer_stuck"]
    assert error["spooling"] == len(later)
    spooled = [RowWrite.from_json(line) for p in spool_files(h) for line in p.read_text().splitlines()]
    assert len(spooled) == sum(len(h.writer.maker.rows(e)) for e in later)
    release.set()
