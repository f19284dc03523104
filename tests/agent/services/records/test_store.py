"""The records store (store.py) on a real SQLite file and a real PostgreSQL: migrated from empty,
idempotent writes, crashed calls marked interrupted, a wrong key, a corrupt file and an
unreachable server refused with clear errors, and no PHI in plain text anywhere on disk."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agent.services.records import schema
from agent.services.records.crypto import KeyRing, RecordsKeyError, new_key
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
from agent.services.records.rows import RowMaker, RowWrite, context
from agent.services.records.store import (
    RecordStore,
    StoreError,
    StoreUnavailable,
    head_revision,
)
from tests.postgres import PostgresServer
from tests.processes import free_port

KEYS = KeyRing.of([new_key()], "test keys")
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
CALLER = "sip:+15550104477@pbx.example.org"
SLOTS = {"full_name": "Maria Lopez", "date_of_birth": "1985-03-03", "callback_phone": "5550104477"}
SAID = "this is Maria Lopez, born 1985-03-03, please call 5550104477"
PHI = ("Maria Lopez", "1985-03-03", "5550104477", "+15550104477")


@dataclass
class Backend:
    name: str
    url: str
    file: Path | None = None  # SQLite: the database file
    server: PostgresServer | None = None

    @property
    def database(self) -> str:
        return self.url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        file = tmp_path / "records.sqlite3"
        return Backend("sqlite", f"sqlite:///{file}", file=file)
    return Backend("postgresql", request.getfixturevalue("postgres_url"),
                   server=request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(backend: Backend):
    s = RecordStore(backend.url, KEYS)
    yield s
    s.dispose()


def maker(keep_transcripts: bool = True) -> RowMaker:
    return RowMaker(KEYS, keep_transcripts, timedelta(days=1))


def a_call(call_id: str, started: datetime = T0, host: str = "clinic-a", worker: int = 1, closed: bool = True) -> list:
    """Every kind of entry a call writes, PHI included."""
    entries: list = [
        CallOpened(call_id, started, host, worker, "g-1", CALLER),
        ReplyLogged(call_id, 0, 0.4, "greeting", None, "consent", "warm", "default"),
        TranscriptLogged(call_id, 1, 2.0, SAID),
        TurnTimed(call_id, 1, 1.75, {"vad_ms": 200, "transcript_ms": 310, "reply_ready_ms": 650, "first_audio_ms": 900}),
        ActionLogged(call_id, 1, started + timedelta(seconds=20), "callback", node="callback", target="front_desk",
                     priority="routine", reason="asked for a call back", slots=SLOTS, work_item="callback"),
        ActionLogged(call_id, 2, started + timedelta(seconds=21), "webhook", node="callback", target="callback.requested",
                     slots=SLOTS, webhook=WebhookOrder("https://hooks.example.org/bedside", 5.0,
                                                       {"event": "callback.requested", "caller": CALLER, "slots": SLOTS})),
        ActionLogged(call_id, 3, started + timedelta(seconds=22), "urgency", node="triage", reason="chest pain"),
        *[SegmentScored(call_id, n, n * 1.5, n * 1.5 + 1.5, -0.1 * n, 0.2, "none", 0.0, {"pitch_mean": 150.0 + n},
                        (0.25 * n, -0.5, 1.0)) for n in range(3)],
        UtteranceScored(call_id, 1, 2.0, -0.2, 0.3, (("calm", 0.7), ("worried", 0.2))),
        StateChanged(call_id, 1, 2.1, -0.2, 0.3, "steady", 0.9, True, None),
    ]
    if closed:
        entries.append(CallClosed(call_id, started + timedelta(minutes=1), "caller hung up", 3, 1, 0, True, False,
                                  -0.2, 0.3, "steady"))
    return entries


def writes_of(entries: list, keep_transcripts: bool = True) -> list[RowWrite]:
    return [w for e in entries for w in maker(keep_transcripts).rows(e)]


def counts(store: RecordStore) -> dict[str, int]:
    with store.reading() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in schema.metadata.sorted_tables}


def test_migrate_brings_an_empty_database_to_head(backend: Backend, store: RecordStore) -> None:
    assert store.revision() is None
    with pytest.raises(StoreError, match="schema is at revision none, this Bedside needs .*bedside records migrate"):
        store.check_schema()
    assert store.migrate() == (None, head_revision())
    store.check_schema()
    assert store.revision() == head_revision()
    assert store.migrate() == (head_revision(), head_revision())  # again: nothing to do
    assert set(counts(store)) == set(schema.metadata.tables) and not any(counts(store).values())


def test_the_same_writes_applied_twice_store_each_row_once(backend: Backend, store: RecordStore) -> None:
    store.prepare(migrate=True)
    writes = writes_of(a_call("c1") + a_call("c2"))
    store.apply(writes)
    first = counts(store)
    assert {k: first[k] for k in ("calls", "replies", "transcripts", "turn_timings", "actions", "work_items",
                                  "webhook_outbox", "emotion_segments", "emotion_utterances", "emotion_states")} == {
        "calls": 2, "replies": 2, "transcripts": 2, "turn_timings": 2, "actions": 6, "work_items": 2,
        "webhook_outbox": 2, "emotion_segments": 6, "emotion_utterances": 2, "emotion_states": 2,
    }
    store.apply(writes)  # a spool replayed after an outage: the same writes again
    store.apply([RowWrite.from_json(w.to_json()) for w in writes])  # as the spool hands them back
    store.apply(writes[:7])  # a part of them (a replay cut short, then replayed)
    assert counts(store) == first
    with store.reading() as conn:
        call = conn.execute(select(schema.calls).where(schema.calls.c.id == "c1")).mappings().one()
        segment_ids = conn.execute(select(schema.emotion_segments.c.id).order_by(schema.emotion_segments.c.id)).scalars().all()
    assert call["status"] == "ended" and call["urgent"] is True and call["turns"] == 3
    assert call["started_at"] == T0 and call["ended_at"] == T0 + timedelta(minutes=1)
    assert KEYS.decrypt(call["caller_enc"], context("calls", "c1")) == CALLER
    assert len(segment_ids) == len(set(segment_ids)) == 6


def test_mark_interrupted_takes_only_this_processs_active_calls_from_before_it_started(
        backend: Backend, store: RecordStore) -> None:
    store.prepare(migrate=True)
    start = T0 + timedelta(hours=1)
    calls = {  # call -> entries
        "mine-cut-off": a_call("mine-cut-off", T0, "clinic-a", 1, closed=False),
        "mine-ended": a_call("mine-ended", T0, "clinic-a", 1, closed=True),
        "mine-current": a_call("mine-current", start + timedelta(seconds=1), "clinic-a", 1, closed=False),
        "other-worker": a_call("other-worker", T0, "clinic-a", 2, closed=False),
        "other-host": a_call("other-host", T0, "clinic-b", 1, closed=False),
    }
    store.apply(writes_of([e for entries in calls.values() for e in entries]))
    before = time.time()
    assert store.mark_interrupted("clinic-a", 1, start) == ["mine-cut-off"]
    with store.reading() as conn:
        rows = {r["id"]: r for r in conn.execute(select(schema.calls)).mappings()}
    cut = rows["mine-cut-off"]
    assert cut["status"] == "interrupted" and "interrupted" in cut["end_reason"]
    assert before - 5 <= cut["ended_at"].timestamp() <= time.time() + 5
    assert {k: r["status"] for k, r in rows.items() if k != "mine-cut-off"} == {
        "mine-ended": "ended", "mine-current": "active", "other-worker": "active", "other-host": "active"}
    assert rows["mine-ended"]["end_reason"] == "caller hung up"
    assert store.mark_interrupted("clinic-a", 1, start) == []  # once


def test_a_key_ring_without_the_databases_key_is_refused(backend: Backend) -> None:
    old, new, wrong = new_key(), new_key(), new_key()
    first = RecordStore(backend.url, KeyRing.of([old], "/srv/a/records.key"))
    try:
        first.prepare(migrate=True)
        first.apply(writes_of(a_call("c1")))
    finally:
        first.dispose()
    wrong_ring = KeyRing.of([wrong], "/srv/b/records.key")
    stranger = RecordStore(backend.url, wrong_ring)
    try:
        with pytest.raises(RecordsKeyError) as caught:
            stranger.prepare(migrate=True)
        message = str(caught.value)
        db_kid = KeyRing.of([old], "x").current
        assert f"was written with key(s) {db_kid}" in message and "/srv/b/records.key holds " + wrong_ring.current in message
        assert "Use the database's key" in message
        if backend.file is not None:
            assert str(backend.file) in message
        with stranger.reading() as conn:  # nothing of the wrong key was recorded
            assert conn.execute(select(schema.key_checks.c.kid)).scalars().all() == [db_kid]
    finally:
        stranger.dispose()
    rotated = RecordStore(backend.url, KeyRing.of([new, old], "rotated"))  # a new key first, the old one after it
    try:
        rotated.prepare(migrate=False)
        with rotated.reading() as conn:
            kids = set(conn.execute(select(schema.key_checks.c.kid)).scalars())
        assert kids == {db_kid, rotated.keys.current}
    finally:
        rotated.dispose()


def test_a_corrupt_sqlite_file_is_unavailable_naming_the_file(tmp_path: Path) -> None:
    file = tmp_path / "records.sqlite3"
    file.write_bytes(b"this is not a database, it was overwritten\n" * 200)
    store = RecordStore(f"sqlite:///{file}", KEYS)
    try:
        for attempt in (store.revision, lambda: store.prepare(migrate=True), lambda: store.apply(writes_of(a_call("c1")))):
            with pytest.raises(StoreUnavailable, match="not a usable SQLite database") as caught:
                attempt()
            assert str(file) in str(caught.value) and "move it aside" in str(caught.value)
    finally:
        store.dispose()


def test_an_unreachable_postgresql_is_unavailable_within_seconds() -> None:
    port = free_port(socket.SOCK_STREAM)  # nothing listens there
    store = RecordStore(f"postgresql+psycopg://bedside:s3cret-pw@127.0.0.1:{port}/records", KEYS)
    try:
        for attempt in (lambda: store.prepare(migrate=True), lambda: store.apply(writes_of(a_call("c1")))):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                attempt()
            assert time.monotonic() - started < 5
            message = str(caught.value)
            assert f"127.0.0.1:{port}/records" in message and "s3cret-pw" not in message
    finally:
        store.dispose()


def test_no_phi_is_on_disk_in_plain_text(backend: Backend, store: RecordStore) -> None:
    store.prepare(migrate=True)
    store.apply(writes_of(a_call("c1") + a_call("c2", T0 + timedelta(minutes=5))))
    with store.reading() as conn:  # the PHI is there, encrypted: the scan below looks at real data
        hook = conn.execute(select(schema.webhook_outbox)).mappings().first()
        said = conn.execute(select(schema.transcripts.c.text_enc)).scalars().first()
    assert json.loads(KEYS.decrypt(hook["payload_enc"], context("webhook_outbox", hook["id"])))["slots"] == SLOTS
    assert KEYS.decrypt(said, context("transcripts", "c1", 1)) == SAID

    def raw() -> dict[str, bytes]:
        if backend.file is not None:
            files = [backend.file, Path(f"{backend.file}-wal")]
            return {f.name: f.read_bytes() for f in files if f.exists()}
        return {"pg_dump": backend.server.dump(backend.database)}  # type: ignore[union-attr]

    scans = [raw()]
    store.dispose()  # SQLite: the last connection closes, the WAL is checkpointed into the file
    scans.append(raw())
    if backend.file is not None:
        assert any(name.endswith("-wal") for name in scans[0])  # written while open: the WAL was scanned too
    for scan in scans:
        everything = b"".join(scan.values())
        assert b"front_desk" in everything and b"callback.requested" in everything  # plain columns are found
        for name, data in scan.items():
            for value in PHI:
                for encoded in (value.encode(), value.encode("utf-16-le")):
                    assert encoded not in data, f"{value!r} in plain text in {name}"
