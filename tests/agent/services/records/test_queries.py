"""Staff queries over a real SQLite file (and, once, PostgreSQL): the call list pages through an
index and shows no PHI, a call's detail decrypts everything, the worklist closes an item once,
exports stream in batches, purge removes old calls with every child row, rekey moves every value to
the new key so the old one can go, and the audit log keeps who read what."""

from __future__ import annotations

import json
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agent.services.records import queries, schema
from agent.services.records.crypto import KeyRing, RecordsKeyError, new_key
from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    CallOpened,
    Entry,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TranscriptLogged,
    TurnTimed,
    UtteranceScored,
    WebhookOrder,
)
from agent.services.records.ids import work_item_id
from agent.services.records.queries import ItemClosed, NotFound, QueryError, Via, WorkState
from agent.services.records.rows import RowMaker
from agent.services.records.store import RecordStore

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PATIENT = "Maria Lopez"
BIRTH = "1961-04-09"
SAID = "my chest hurts since this morning"
CHILD_TABLES = ("replies", "turn_timings", "transcripts", "actions", "emotion_segments", "emotion_utterances",
                "emotion_states", "work_items", "webhook_outbox")


def caller_of(call_id: str) -> str:
    return f"sip:+1555{abs(hash(call_id)) % 10**7:07d}@clinic.example"


def make_store(tmp_path: Path, keys: KeyRing | None = None, url: str | None = None) -> RecordStore:
    store = RecordStore(url or f"sqlite:///{tmp_path / 'records.sqlite3'}", keys or KeyRing.of([new_key()], "test"))
    store.migrate()
    store.check_keys()
    return store


def call_entries(call_id: str, started: datetime, *, urgent: bool = False, callback: bool = True,
                 closed: bool = True, webhook: bool = False) -> list[Entry]:
    """One call with a row in every table (a call-back and, optionally, a webhook)."""
    entries: list[Entry] = [
        CallOpened(call_id, started, "host-a", 1, "g-7", caller_of(call_id)),
        ReplyLogged(call_id, 0, 0.4, "greeting", None, "start", "warm", "greeting"),
        ReplyLogged(call_id, 1, 6.2, "turn-1", 1, "callback", "calm", "caller_distressed"),
        TurnTimed(call_id, 1, 2.5, {"vad_ms": 180, "transcript_ms": 240, "reply_ready_ms": 610, "first_audio_ms": 790}),
        TranscriptLogged(call_id, 0, 3.1, SAID),
        SegmentScored(call_id, 0, 0.0, 2.0, -0.3, 0.6, "none", 0.1, {"pitch_mean": 181.0}, (0.1, 0.2, 0.3)),
        SegmentScored(call_id, 1, 2.0, 4.0, -0.5, 0.7, "sigh", 0.83, {"pitch_mean": 170.0}, (0.3, 0.2, 0.1)),
        UtteranceScored(call_id, 0, 3.0, -0.4, 0.6, (("distress", 0.71), ("calm", 0.12))),
        StateChanged(call_id, 0, 4.0, -0.4, 0.6, "falling", 0.8, True, "sigh"),
    ]
    if urgent:
        entries.append(ActionLogged(call_id, 2, started + timedelta(seconds=5), "urgency", node="triage",
                                    target="nurse", priority="urgent", reason="chest pain"))
    if callback:
        entries.append(ActionLogged(
            call_id, 3, started + timedelta(seconds=30), "callback", node="callback", target="front-desk",
            priority="urgent" if urgent else "routine", reason="wants a call back",
            slots={"name": PATIENT, "date_of_birth": BIRTH}, work_item="callback",
        ))
    if webhook:
        entries.append(ActionLogged(
            call_id, 4, started + timedelta(seconds=40), "webhook", node="book", target="appointment_booked",
            slots={"name": PATIENT},
            webhook=WebhookOrder("https://user:pw@ehr.example:8443/hooks/booked?token=s3cret", 3.0,
                                 {"name": PATIENT, "date_of_birth": BIRTH}),
        ))
    if closed:
        entries.append(CallClosed(call_id, started + timedelta(minutes=2, seconds=5), "caller hung up", 3, 1, 0,
                                  urgent, False, -0.4, 0.6, "falling"))
    return entries


def add_call(store: RecordStore, call_id: str, started: datetime, **kinds: Any) -> None:
    maker = RowMaker(store.keys, keep_transcripts=True, expire_after=timedelta(days=1))
    store.apply([row for entry in call_entries(call_id, started, **kinds) for row in maker.rows(entry)])


def rows_of(store: RecordStore, table: str, call_id: str | None = None) -> int:
    t = schema.metadata.tables[table]
    query = select(func.count()).select_from(t)
    if call_id is not None:
        query = query.where(t.c.call_id == call_id) if "call_id" in t.c else query.where(t.c.id == call_id)
    with store.reading() as conn:
        return conn.execute(query).scalar_one()


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    store = make_store(tmp_path)
    yield store
    store.dispose()


# ---- the call list ---------------------------------------------------------------------------


def test_list_pages_newest_first_through_every_call_once(store: RecordStore) -> None:
    for i in range(7):
        add_call(store, f"call-{i}", T0 + timedelta(hours=i), urgent=i % 3 == 0, callback=i % 2 == 0)
    seen, cursor = [], None
    while True:
        page = queries.list_calls(store, limit=3, cursor=cursor)
        seen += [c.id for c in page.calls]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"call-{i}" for i in reversed(range(7))]

    first = queries.list_calls(store, limit=100).calls
    assert {c.id: c.open_items for c in first} == {f"call-{i}": int(i % 2 == 0) for i in range(7)}
    assert [c.id for c in queries.list_calls(store, urgent=True).calls] == ["call-6", "call-3", "call-0"]
    since = queries.list_calls(store, since=T0 + timedelta(hours=5)).calls
    assert [c.id for c in since] == ["call-6", "call-5"]
    until = queries.list_calls(store, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)).calls
    assert [c.id for c in until] == ["call-2", "call-1"]
    text = json.dumps(queries.list_calls(store).as_dict())
    assert "sip:" not in text and PATIENT not in text  # the list holds no PHI


def test_calls_started_the_same_second_page_by_id(store: RecordStore) -> None:
    for i in range(5):
        add_call(store, f"same-{i}", T0, callback=False)
    one = queries.list_calls(store, limit=2)
    two = queries.list_calls(store, limit=2, cursor=one.next_cursor)
    three = queries.list_calls(store, limit=2, cursor=two.next_cursor)
    assert [c.id for p in (one, two, three) for c in p.calls] == [f"same-{i}" for i in reversed(range(5))]
    assert three.next_cursor is None


def test_bad_cursor_and_limit_are_query_errors(store: RecordStore) -> None:
    with pytest.raises(QueryError, match="cursor"):
        queries.list_calls(store, cursor="not-a-cursor")
    with pytest.raises(QueryError, match="limit"):
        queries.list_calls(store, limit=0)
    with pytest.raises(QueryError, match="limit"):
        queries.work_items(store, limit=queries.MAX_LIMIT + 1)


# ---- call-list filters: transfer, node reached, final emotion, burst ---------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> RecordStore:
    """The same store on each backend: the filters are EXISTS subqueries and float bands, which
    each dialect compiles its own way."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    store = make_store(tmp_path, url=url)
    yield store
    store.dispose()


def add_shaped_call(store: RecordStore, call_id: str, started: datetime, *, nodes: tuple[str | None, ...] = (),
                    bursts: tuple[str, ...] = (), transferred: bool = False, valence: float | None = None) -> None:
    """A call that replied from ``nodes``, had a scored segment per burst (``none``: no burst),
    was or was not handed off, and ended with ``valence`` (None: no reading at all)."""
    entries: list[Entry] = [CallOpened(call_id, started, "host-a", 1, "g-7", caller_of(call_id))]
    entries += [ReplyLogged(call_id, i, 1.0 + i, f"turn-{i}", i, node, "calm", "default") for i, node in enumerate(nodes)]
    entries += [SegmentScored(call_id, i, 2.0 * i, 2.0 * i + 2, 0.0, 0.5, burst, 0.8, {"pitch_mean": 180.0}, ())
                for i, burst in enumerate(bursts)]
    entries.append(CallClosed(call_id, started + timedelta(minutes=1), "caller hung up", len(nodes), 0, 0, False,
                              transferred, valence, None if valence is None else 0.5, None if valence is None else "steady"))
    maker = RowMaker(store.keys, keep_transcripts=False, expire_after=timedelta(days=1))
    store.apply([row for entry in entries for row in maker.rows(entry)])


def shaped_clinic(store: RecordStore) -> None:
    """Seven calls an hour apart (c0 oldest): every filter value has a call, and the band edges sit on their lines."""
    add_shaped_call(store, "c0", T0, nodes=("start", "billing"), bursts=("none", "sigh"), valence=-0.4)
    add_shaped_call(store, "c1", T0 + timedelta(hours=1), nodes=("start", "triage"), transferred=True, valence=-0.15)
    add_shaped_call(store, "c2", T0 + timedelta(hours=2), nodes=("start", "triage", None), bursts=("cry",),
                    transferred=True, valence=-0.16)
    add_shaped_call(store, "c3", T0 + timedelta(hours=3), nodes=("start",), bursts=("laugh", "sigh"), valence=0.15)
    add_shaped_call(store, "c4", T0 + timedelta(hours=4), nodes=("start", "billing"), valence=0.16)
    add_shaped_call(store, "c5", T0 + timedelta(hours=5), valence=None)  # no replies, no segments, no reading
    add_shaped_call(store, "c6", T0 + timedelta(hours=6), nodes=("triage",), bursts=("sigh",), transferred=True,
                    valence=0.0)


def ids(page: queries.CallPage) -> list[str]:
    return [c.id for c in page.calls]


def test_each_call_list_filter_alone(any_store: RecordStore) -> None:
    shaped_clinic(any_store)
    assert ids(queries.list_calls(any_store, transferred=True)) == ["c6", "c2", "c1"]
    assert ids(queries.list_calls(any_store, transferred=False)) == ["c5", "c4", "c3", "c0"]
    assert ids(queries.list_calls(any_store, node="triage")) == ["c6", "c2", "c1"]
    assert ids(queries.list_calls(any_store, node="billing")) == ["c4", "c0"]  # twice in c0 and c4: once each
    assert ids(queries.list_calls(any_store, node="start")) == ["c4", "c3", "c2", "c1", "c0"]
    assert ids(queries.list_calls(any_store, node="nowhere")) == []
    # the bands' edges: -0.15 and 0.15 themselves are neutral; a call without a reading is in no band
    assert ids(queries.list_calls(any_store, emotion="negative")) == ["c2", "c0"]
    assert ids(queries.list_calls(any_store, emotion="neutral")) == ["c6", "c3", "c1"]
    assert ids(queries.list_calls(any_store, emotion="positive")) == ["c4"]
    assert ids(queries.list_calls(any_store, burst="sigh")) == ["c6", "c3", "c0"]  # twice in none of them, once each
    assert ids(queries.list_calls(any_store, burst="cry")) == ["c2"]
    assert ids(queries.list_calls(any_store, burst="yawn")) == []
    assert len(queries.list_calls(any_store).calls) == 7  # no filter: every call


def test_call_list_filters_combine_with_each_other_and_with_dates(any_store: RecordStore) -> None:
    shaped_clinic(any_store)
    assert ids(queries.list_calls(any_store, node="triage", transferred=True, emotion="neutral")) == ["c6", "c1"]
    assert ids(queries.list_calls(any_store, node="triage", burst="sigh")) == ["c6"]
    assert ids(queries.list_calls(any_store, node="start", burst="sigh", emotion="negative")) == ["c0"]
    assert ids(queries.list_calls(any_store, node="billing", transferred=True)) == []
    assert ids(queries.list_calls(any_store, burst="sigh", since=T0 + timedelta(hours=1),
                                  until=T0 + timedelta(hours=6))) == ["c3"]
    assert ids(queries.list_calls(any_store, emotion="negative", transferred=False, urgent=False)) == ["c0"]


def test_paging_with_filters_visits_every_match_once(any_store: RecordStore) -> None:
    # 13 calls, matches (node triage, not transferred) interleaved with misses, three of them the same second
    for i in range(10):
        add_shaped_call(any_store, f"p{i:02d}", T0 + timedelta(minutes=i), nodes=("triage" if i % 3 else "billing",),
                        transferred=i == 4, valence=-0.5)
    for i in range(3):
        add_shaped_call(any_store, f"same-{i}", T0 + timedelta(hours=1), nodes=("triage",), valence=-0.5)
    want = ["same-2", "same-1", "same-0"] + [f"p{i:02d}" for i in reversed(range(10)) if i % 3 and i != 4]
    seen, cursor, pages = [], None, 0
    while True:
        page = queries.list_calls(any_store, node="triage", transferred=False, emotion="negative", limit=2, cursor=cursor)
        seen += ids(page)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == want and pages == (len(want) + 1) // 2


def test_known_nodes_are_distinct_sorted_and_never_null(any_store: RecordStore) -> None:
    assert queries.known_nodes(any_store) == []
    shaped_clinic(any_store)
    assert queries.known_nodes(any_store) == ["billing", "start", "triage"]


def test_a_filter_the_records_cannot_answer_is_a_query_error(store: RecordStore) -> None:
    with pytest.raises(QueryError, match="emotion 'angry'"):
        queries.list_calls(store, emotion="angry")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="name a burst"):
        queries.list_calls(store, burst="none")


def test_the_negative_band_is_the_line_the_call_runtime_watches() -> None:
    from agent.call.call_phase import CallPhaseConfig

    assert queries.NEGATIVE_VALENCE == CallPhaseConfig().negative_valence
    assert queries.POSITIVE_VALENCE == -queries.NEGATIVE_VALENCE


# ---- one call in full --------------------------------------------------------------------------


def test_show_decrypts_what_staff_need_and_hides_webhook_secrets(store: RecordStore) -> None:
    add_call(store, "c-1", T0, urgent=True, webhook=True)
    call = queries.show_call(store, "c-1")
    assert call is not None
    assert call.caller == caller_of("c-1") and call.urgent and call.status == "ended" and call.turns == 3
    assert [(r.label, r.node, r.expression, r.expression_why) for r in call.replies] == [
        ("greeting", "start", "warm", "greeting"), ("turn-1", "callback", "calm", "caller_distressed")]
    assert call.timings[0].first_audio_ms == 790
    assert [a.kind for a in call.actions] == ["urgency", "callback", "webhook"]
    assert call.actions[1].slots == {"name": PATIENT, "date_of_birth": BIRTH}
    (item,) = call.work_items
    assert item.caller == caller_of("c-1") and item.slots["name"] == PATIENT and item.state is WorkState.OPEN
    (delivery,) = call.deliveries
    assert delivery.destination == "https://ehr.example:8443/hooks/booked" and delivery.state == "pending"
    assert call.emotion is not None and call.emotion.segments == 2
    assert [(b.seq, b.burst) for b in call.emotion.bursts] == [(1, "sigh")]
    assert call.emotion.states[0].trend == "falling"
    assert call.emotion.utterances[0].top_emotions[0].name == "distress"
    assert [t.text for t in call.transcripts] == [SAID]
    text = json.dumps(call.as_dict())
    assert "s3cret" not in text and "pw@" not in text and "v1." not in text  # no secrets, no ciphertext
    assert queries.show_call(store, "no-such-call") is None


# ---- the worklist ------------------------------------------------------------------------------


def test_worklist_open_oldest_first_with_caller_and_slots(store: RecordStore) -> None:
    for i in range(5):
        add_call(store, f"w-{i}", T0 + timedelta(minutes=i))
    add_call(store, "no-callback", T0, callback=False)
    page = queries.work_items(store, open_only=True, limit=2)
    rest = queries.work_items(store, open_only=True, limit=10, cursor=page.next_cursor)
    items = page.items + rest.items
    assert [i.call_id for i in items] == [f"w-{i}" for i in range(5)] and rest.next_cursor is None
    assert all(i.caller == caller_of(i.call_id) and i.slots == {"name": PATIENT, "date_of_birth": BIRTH} for i in items)
    queries.close_item(store, items[0].id, "nurse jo")
    assert [i.call_id for i in queries.work_items(store, open_only=True).items] == [f"w-{i}" for i in range(1, 5)]
    every = queries.work_items(store, open_only=False).items
    assert [i.call_id for i in every] == [f"w-{i}" for i in reversed(range(5))]  # all: newest first


def test_close_item_once_and_clear_errors(store: RecordStore) -> None:
    add_call(store, "c-1", T0)
    add_call(store, "c-2", T0)
    first, second = work_item_id("c-1", 3), work_item_id("c-2", 3)
    done = queries.close_item(store, first, "  nurse jo ", WorkState.DONE)
    assert done.state is WorkState.DONE and done.closed_by == "nurse jo" and done.closed_at is not None
    assert done.caller == caller_of("c-1")
    with pytest.raises(ItemClosed, match="already done .by nurse jo"):
        queries.close_item(store, first, "someone else", WorkState.CANCELLED)
    assert queries.work_item(store, first).closed_by == "nurse jo"  # the first close stands
    cancelled = queries.close_item(store, second, "dr kim", WorkState.CANCELLED)
    assert cancelled.state is WorkState.CANCELLED
    with pytest.raises(ItemClosed):
        queries.close_item(store, second, "dr kim", WorkState.DONE)
    with pytest.raises(NotFound):
        queries.close_item(store, "00000000-0000-0000-0000-000000000000", "dr kim")
    with pytest.raises(QueryError):
        queries.close_item(store, first, "dr kim", WorkState.OPEN)
    with pytest.raises(QueryError, match="staff name"):
        queries.close_item(store, second, "   ")


def test_resolve_item_by_prefix(store: RecordStore) -> None:
    add_call(store, "c-1", T0)
    full = work_item_id("c-1", 3)
    assert queries.resolve_item(store, full[:8].upper()) == full
    with pytest.raises(NotFound):
        queries.resolve_item(store, "ffffffff-nothing")
    with pytest.raises(QueryError, match="at least"):
        queries.resolve_item(store, "ab")


# ---- export ------------------------------------------------------------------------------------


def test_export_streams_in_batches_without_phi(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "BATCH", 3)
    for i in range(8):
        add_call(store, f"e-{i}", T0 + timedelta(hours=i), webhook=i == 2)
    transactions = 0
    reading = store.reading

    def counting():
        nonlocal transactions
        transactions += 1
        return reading()

    monkeypatch.setattr(store, "reading", counting)
    rows = queries.export_calls(store, T0 + timedelta(hours=1), until=T0 + timedelta(hours=7))
    assert isinstance(rows, types.GeneratorType)
    first = next(rows)
    assert first["id"] == "e-1" and transactions == 1  # the first batch only, not the whole range
    rest = list(rows)
    assert [r["id"] for r in [first, *rest]] == [f"e-{i}" for i in range(1, 7)]
    assert transactions == 2 + 1  # 6 rows in batches of 3, and one more that found the end
    assert all(tuple(r) == queries.EXPORT_FIELDS for r in rest)
    e2 = rest[0]
    assert e2["actions"] == "callback webhook" and e2["work_items"] == 1 and e2["open_items"] == 1
    assert e2["duration_s"] == 125.0 and e2["started_at"] == "2026-11-02T11:00:00Z"
    text = json.dumps([first, *rest])
    assert "sip:" not in text and PATIENT not in text and SAID not in text


# ---- audit -------------------------------------------------------------------------------------


def test_audit_rows_keep_who_read_which_call(store: RecordStore) -> None:
    queries.audit(store, "nurse jo", Via.CLI, "show", call_id="c-1")
    queries.audit(store, "dr kim", Via.API, "list", detail="x" * 500)
    queries.audit(store, "dr kim", Via.API, "show", call_id="c-2")
    entries = queries.audit_entries(store)
    assert [(e.actor, e.via, e.what, e.call_id) for e in entries] == [
        ("dr kim", "api", "show", "c-2"), ("dr kim", "api", "list", None), ("nurse jo", "cli", "show", "c-1")]
    assert len(entries[1].detail or "") == 200 and entries[0].at.tzinfo is not None
    assert [e.call_id for e in queries.audit_entries(store, call_id="c-1")] == ["c-1"]
    assert [e.what for e in queries.audit_entries(store, actor="dr kim", limit=1)] == ["show"]
    assert [e.what for e in queries.audit_entries(store, before_id=entries[0].id, limit=1)] == ["list"]
    with pytest.raises(QueryError):
        queries.audit(store, "", Via.CLI, "show")


# ---- purge -------------------------------------------------------------------------------------


def test_purge_deletes_old_calls_with_every_child_row(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "BATCH", 2)  # several batches
    now = T0 + timedelta(days=100)
    old = [f"old-{i}" for i in range(5)]
    for i, call_id in enumerate(old):
        add_call(store, call_id, T0 + timedelta(hours=i), webhook=True)
    add_call(store, "new", now - timedelta(days=3), webhook=True)
    add_call(store, "edge", now - timedelta(days=89, hours=23), webhook=True)  # inside 90 days: kept
    queries.close_item(store, work_item_id("old-0", 3), "jo")
    with store.reading() as conn:
        conn.execute(schema.audit_log.insert(), [
            {"at": now - timedelta(days=7 * 365), "actor": "a", "via": "cli", "what": "show", "call_id": "old-1"},
            {"at": now - timedelta(days=5 * 365), "actor": "b", "via": "cli", "what": "show", "call_id": "old-1"},
        ])
    assert all(rows_of(store, t, "old-1") > 0 for t in CHILD_TABLES)  # the old calls really had children

    dry = queries.purge(store, 90, now=now, dry_run=True)
    assert (dry.calls, dry.open_items, dry.audit_rows, dry.dry_run) == (5, 4, 1, True)
    assert rows_of(store, "calls") == 7

    result = queries.purge(store, 90, now=now)
    assert (result.calls, result.open_items, result.audit_rows) == (5, 4, 1)
    assert result.calls_before == now - timedelta(days=90)
    assert result.audit_before == now - timedelta(days=queries.AUDIT_RETENTION_DAYS)
    for call_id in old:
        assert rows_of(store, "calls", call_id) == 0
        assert {t: rows_of(store, t, call_id) for t in CHILD_TABLES} == dict.fromkeys(CHILD_TABLES, 0)
    for call_id in ("new", "edge"):
        assert all(rows_of(store, t, call_id) > 0 for t in ("calls", *CHILD_TABLES))
    assert [e.actor for e in queries.audit_entries(store)] == ["b"]  # 5 years old: kept; 7: gone
    assert queries.purge(store, 90, now=now).calls == 0
    with pytest.raises(QueryError):
        queries.purge(store, 0, now=now)


def test_audit_is_never_kept_shorter_than_calls(store: RecordStore) -> None:
    now = T0
    with store.reading() as conn:
        conn.execute(schema.audit_log.insert(), [{"at": now - timedelta(days=20), "actor": "a", "via": "cli", "what": "list"}])
    assert queries.purge(store, 30, now=now, audit_retention_days=10).audit_rows == 0


# ---- rekey -------------------------------------------------------------------------------------


def phi_kids(store: RecordStore) -> set[str]:
    """The key ids of every encrypted value in the database."""
    kids: set[str] = set()
    with store.reading() as conn:
        for table, columns in schema.PHI_COLUMNS.items():
            if table == "key_checks":
                continue
            for column in columns:
                col = schema.metadata.tables[table].c[column]
                kids |= {KeyRing.kid_of(v) for v in conn.execute(select(col).where(col.is_not(None))).scalars()}
    return kids


def test_rekey_moves_every_value_so_the_old_key_can_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "BATCH", 2)
    old_key, new = new_key(), new_key()
    old_ring = KeyRing.of([old_key], "old")
    store = make_store(tmp_path, old_ring)
    for i in range(3):
        add_call(store, f"r-{i}", T0 + timedelta(minutes=i), webhook=True)
    store.dispose()
    assert phi_kids(store) == {old_ring.current}

    both = KeyRing.of([new, old_key], "rotating")
    rotating = RecordStore(str(store.url), both)
    # 3 calls: caller, transcript, 2 actions' slots, 1 delivery payload each
    assert queries.rekey(rotating) == 3 * 5
    assert phi_kids(rotating) == {both.current}
    assert queries.rekey(rotating) == 0  # idempotent
    rotating.dispose()

    only_new = RecordStore(str(store.url), KeyRing.of([new], "new"))
    only_new.check_keys()
    call = queries.show_call(only_new, "r-1")
    assert call is not None and call.caller == caller_of("r-1") and call.transcripts[0].text == SAID
    assert [a.slots for a in call.actions if a.kind == "callback"] == [{"name": PATIENT, "date_of_birth": BIRTH}]
    with only_new.reading() as conn:
        assert list(conn.execute(select(schema.key_checks.c.kid)).scalars()) == [both.current]
    only_new.dispose()
    with pytest.raises(RecordsKeyError, match="written with key"):  # the old key alone is refused now
        RecordStore(str(store.url), old_ring).check_keys()


def test_rekey_without_the_old_key_fails_clearly(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    add_call(store, "r-1", T0)
    store.dispose()
    wrong = RecordStore(str(store.url), KeyRing.of([new_key()], "wrong"))
    with pytest.raises(RecordsKeyError):
        queries.rekey(wrong)


# ---- dates -------------------------------------------------------------------------------------


def test_parse_when_forms() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert queries.parse_when("7d", now) == now - timedelta(days=7)
    assert queries.parse_when("12h", now) == now - timedelta(hours=12)
    assert queries.parse_when("2w", now) == now - timedelta(weeks=2)
    assert queries.parse_when("2026-12-01T08:00+02:00") == datetime(2026, 12, 1, 6, tzinfo=UTC)
    local_midnight = datetime(2026, 12, 1).astimezone()
    assert queries.parse_when("2026-12-01") == local_midnight.astimezone(UTC)
    with pytest.raises(QueryError, match="not a date"):
        queries.parse_when("last tuesday")


# ---- PostgreSQL --------------------------------------------------------------------------------


def test_the_same_queries_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    store = make_store(tmp_path, url=postgres_url)
    try:
        for i in range(4):
            add_call(store, f"pg-{i}", T0 + timedelta(days=i * 40), webhook=True)
        page = queries.list_calls(store, limit=3)
        assert [c.id for c in page.calls] == ["pg-3", "pg-2", "pg-1"]
        assert [c.id for c in queries.list_calls(store, cursor=page.next_cursor).calls] == ["pg-0"]
        call = queries.show_call(store, "pg-1")
        assert call is not None and call.caller == caller_of("pg-1") and call.emotion.bursts[0].burst == "sigh"
        item = queries.work_items(store).items[0]
        queries.close_item(store, item.id, "jo")
        with pytest.raises(ItemClosed):
            queries.close_item(store, item.id, "jo")
        assert [r["id"] for r in queries.export_calls(store, T0)] == [f"pg-{i}" for i in range(4)]
        queries.audit(store, "jo", Via.API, "show", call_id="pg-1")
        assert queries.purge(store, 90, now=T0 + timedelta(days=131)).calls == 2
        assert rows_of(store, "webhook_outbox") == 2 and rows_of(store, "audit_log") == 1
        rotated = RecordStore(postgres_url, KeyRing.of([new_key(), *_keys_of(store)], "rotating"))
        assert queries.rekey(rotated) == 2 * 5 and phi_kids(rotated) == {rotated.keys.current}
        rotated.dispose()
    finally:
        store.dispose()


def _keys_of(store: RecordStore) -> list[str]:
    import base64

    return [base64.urlsafe_b64encode(k).decode() for k in store.keys.keys.values()]


def test_live_nodes_count_the_calls_in_progress_by_their_latest_replys_node(store: RecordStore) -> None:
    add_call(store, "ended", T0)
    add_call(store, "live-a", T0 + timedelta(minutes=1), closed=False)
    add_call(store, "live-b", T0 + timedelta(minutes=2), closed=False)
    maker = RowMaker(store.keys, keep_transcripts=True, expire_after=timedelta(days=1))
    store.apply(maker.rows(ReplyLogged("live-b", 2, 9.0, "turn-2", 2, "booking", "calm", "neutral")))
    live = queries.live_nodes(store)
    assert (live.calls, live.nodes) == (2, {"callback": 1, "booking": 1})
