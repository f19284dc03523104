"""The Alembic migrations on a real SQLite file and a real PostgreSQL: from empty to head, the
result is exactly schema.py; from the previous revision, call-backs already kept become open work
items; and every revision downgrades."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from agent.services.records import schema
from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.ids import work_item_id
from agent.services.records.store import MIGRATIONS, RecordStore, head_revision

KEYS = KeyRing.of([new_key()], "test")
T0 = datetime(2026, 11, 30, 14, 5, 7, tzinfo=UTC)
REVISION_0001_TABLES = {"calls", "replies", "turn_timings", "transcripts", "actions", "emotion_segments",
                        "emotion_utterances", "emotion_states", "key_checks"}


@dataclass
class Backend:
    name: str
    url: str


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite:///{tmp_path / 'records.sqlite3'}")
    return Backend("postgresql", request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(backend: Backend) -> Iterator[RecordStore]:
    s = RecordStore(backend.url, KEYS)  # its engine: WAL and foreign keys on SQLite, as in production
    yield s
    s.dispose()


def alembic(store: RecordStore, action, revision: str) -> None:
    """``alembic upgrade/downgrade <revision>`` on the store's database, as the store runs it."""
    with store.engine.begin() as conn:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        action(config, revision)


def tables(store: RecordStore) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_matches_the_schema_module(store: RecordStore) -> None:
    assert tables(store) == set()
    store.migrate()
    assert store.revision() == head_revision()
    assert tables(store) == set(schema.metadata.tables)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, schema.metadata)
    assert differences == [], "schema.py and the migrations disagree:\n" + "\n".join(map(repr, differences))


def test_the_schema_module_comparison_sees_a_difference(store: RecordStore) -> None:
    """The check above can fail: a column the migrations lack is reported."""
    store.migrate()
    changed = sa.MetaData(naming_convention=schema.NAMING)
    for table in schema.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["work_items"].append_column(sa.Column("notes", sa.Text))
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), changed)
    assert [(d[0], d[2], d[3].name) for d in differences] == [("add_column", "work_items", "notes")]


def insert_0001_call(conn: sa.Connection, call_id: str, actions: list[dict]) -> None:
    """A call and its actions as revision 0001 kept them (no work items, no outbox)."""
    conn.execute(schema.calls.insert().values(
        id=call_id, started_at=T0, host="clinic-a", worker=1, graph_version="g-0", caller_enc=None, status="ended",
        turns=2, barge_ins=0, reprompts=0, urgent=False, handed_off=False))
    conn.execute(schema.actions.insert(), [
        {"call_id": call_id, "node": None, "target": None, "priority": None, "reason": None, "slots_enc": None, **a}
        for a in actions])


def test_upgrade_from_0001_turns_kept_callbacks_into_open_work_items(store: RecordStore) -> None:
    store.migrate("0001")
    assert store.revision() == "0001" and tables(store) == REVISION_0001_TABLES
    with store.engine.begin() as conn:
        insert_0001_call(conn, "old-1", [
            {"seq": 1, "decided_at": T0 + timedelta(seconds=30), "kind": "callback", "node": "callback",
             "target": "front_desk", "priority": "urgent", "reason": "asked for a call back"},
            {"seq": 2, "decided_at": T0 + timedelta(seconds=31), "kind": "webhook", "node": "callback",
             "target": "callback.requested"},
            {"seq": 3, "decided_at": T0 + timedelta(seconds=40), "kind": "end_call", "node": "goodbye"},
        ])
        insert_0001_call(conn, "old-2", [
            {"seq": 4, "decided_at": T0 + timedelta(seconds=50), "kind": "transfer", "node": "transfer",
             "target": "nurse_line"},
            {"seq": 5, "decided_at": T0 + timedelta(seconds=75), "kind": "callback", "node": "transfer",
             "target": "nurse_line", "reason": "transfer not answered"},
        ])
    assert store.migrate() == ("0001", head_revision())
    with store.reading() as conn:
        items = {r["id"]: dict(r) for r in conn.execute(sa.select(schema.work_items)).mappings()}
        calls = conn.execute(sa.select(sa.func.count()).select_from(schema.calls)).scalar_one()
        outbox = conn.execute(sa.select(sa.func.count()).select_from(schema.webhook_outbox)).scalar_one()
    assert calls == 2 and outbox == 0  # the old webhook was sent then; nothing is re-sent
    assert items == {
        work_item_id("old-1", 1): {
            "id": work_item_id("old-1", 1), "call_id": "old-1", "action_seq": 1, "kind": "callback",
            "team": "front_desk", "priority": "urgent", "reason": "asked for a call back", "state": "open",
            "created_at": T0 + timedelta(seconds=30), "closed_at": None, "closed_by": None},
        work_item_id("old-2", 5): {
            "id": work_item_id("old-2", 5), "call_id": "old-2", "action_seq": 5, "kind": "unanswered_transfer",
            "team": "nurse_line", "priority": "routine", "reason": "transfer not answered", "state": "open",
            "created_at": T0 + timedelta(seconds=75), "closed_at": None, "closed_by": None},
    }
    # down to 0001 and up again: the same items, by the same ids (the migration can be run again)
    alembic(store, command.downgrade, "0001")
    assert tables(store) == REVISION_0001_TABLES
    store.migrate()
    with store.reading() as conn:
        again = set(conn.execute(sa.select(schema.work_items.c.id)).scalars())
    assert again == set(items)


def revisions() -> list[str]:
    """Every revision, oldest first."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return [script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]


def test_every_revision_downgrades(store: RecordStore) -> None:
    chain = revisions()
    assert chain[0] == "0001" and chain[-1] == head_revision() and len(chain) >= 2
    store.migrate()
    with store.engine.begin() as conn:
        insert_0001_call(conn, "c1", [{"seq": 1, "decided_at": T0, "kind": "callback", "target": "front_desk"}])
    for previous in reversed(chain[:-1]):  # one revision at a time, down to 0001
        alembic(store, command.downgrade, "-1")
        assert store.revision() == previous
    assert tables(store) == REVISION_0001_TABLES
    with store.reading() as conn:
        assert conn.execute(sa.select(schema.actions.c.call_id)).scalars().all() == ["c1"]  # 0001's data stays
    alembic(store, command.downgrade, "base")
    assert store.revision() is None and tables(store) == set()
    assert store.migrate() == (None, head_revision())  # and up again from nothing
    store.check_schema()
