"""Similar calls over a real SQLite store (and once PostgreSQL): the index file is built, then
synced incrementally by watermark, rebuilt when corrupt, loses purged calls (and is not fooled when
SQLite hands a purged id out again), and the ranking — the mean over the query's segments of each
one's best match in a call — is checked against a brute-force computation of the same rule."""

from __future__ import annotations

import fcntl
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, insert, select
from structlog.testing import capture_logs

from agent.services.records import queries, schema
from agent.services.records.entries import CallClosed, CallOpened, Entry, SegmentScored
from agent.services.records.queries import NotFound, QueryError
from agent.services.records.rows import RowMaker
from agent.services.records.similar import SegmentIndex
from agent.services.records.similar_calls import (
    IndexKeeper,
    similar_to_call,
    similar_to_vectors,
    sync_index,
)
from agent.services.records.store import RecordStore
from tests.agent.services.records.test_queries import caller_of, make_store

DIM = 64
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RNG = np.random.default_rng(16)
MANNERS = RNG.standard_normal((8, DIM))  # eight directions of "how it was said"


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def near(vectors: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Unit vectors near these: noise is the length of the random offset (relative to 1)."""
    rng = np.random.default_rng(seed)
    return unit(unit(vectors) + rng.standard_normal(vectors.shape) * noise / np.sqrt(DIM))


QUERY = near(MANNERS[[0, 1, 2, 3, 0]], 0.3, 1)  # the call we ask about: five moments, four manners


def add_call(store: RecordStore, call_id: str, started: datetime, vectors: np.ndarray | list[Any],
             *, urgent: bool = False, burst: str = "none") -> None:
    """A call with one 2-s segment per vector (None: no embedding was kept)."""
    entries: list[Entry] = [CallOpened(call_id, started, "host-a", 1, "g-1", caller_of(call_id))]
    for i, v in enumerate(vectors):
        entries.append(SegmentScored(call_id, i, 2.0 * i, 2.0 * i + 2, -0.1 * i, 0.5, burst if i == 1 else "none", 0.7,
                                     {"pitch_mean": 180.0}, () if v is None else tuple(float(x) for x in v)))
    entries.append(CallClosed(call_id, started + timedelta(seconds=2 * len(vectors) + 5), "caller hung up", 2, 0, 0,
                              urgent, False, -0.2, 0.5, "steady"))
    maker = RowMaker(store.keys, keep_transcripts=False, expire_after=timedelta(days=1))
    store.apply([row for entry in entries for row in maker.rows(entry)])


def segment_ids(store: RecordStore, call_id: str | None = None) -> list[int]:
    s = schema.emotion_segments
    query = select(s.c.id).order_by(s.c.id)
    with store.reading() as conn:
        return list(conn.execute(query if call_id is None else query.where(s.c.call_id == call_id)).scalars())


def clinic(store: RecordStore) -> None:
    """The query call and four others, an hour apart: a near copy, one sharing a single manner for
    a long while, one sharing two, and one that sounded nothing alike."""
    add_call(store, "query", T0, QUERY)
    add_call(store, "copy", T0 + timedelta(hours=1), near(QUERY, 0.05, 2), urgent=True, burst="sigh")
    add_call(store, "one-manner", T0 + timedelta(hours=2), near(MANNERS[[0] * 12 + [5, 6]], 0.3, 3))
    add_call(store, "two-manners", T0 + timedelta(hours=3), near(MANNERS[[1, 2, 6, 7]], 0.3, 4))
    add_call(store, "unlike", T0 + timedelta(hours=4), near(MANNERS[[5, 6, 7, 4]], 0.3, 5))


def exact_scores(store: RecordStore, query: np.ndarray, skip: str | None = "query") -> dict[str, float]:
    """The ranking rule computed by brute force: mean over query segments of the best cosine in each call."""
    s = schema.emotion_segments
    with store.reading() as conn:
        rows = conn.execute(select(s.c.call_id, s.c.embedding).where(s.c.embedding.is_not(None))).all()
    by_call: dict[str, list[np.ndarray]] = {}
    for call_id, blob in rows:
        v = np.frombuffer(blob, "<f4")
        if call_id != skip and np.linalg.norm(v) > 0:
            by_call.setdefault(call_id, []).append(unit(v))
    return {c: float((unit(query) @ np.array(vs).T).max(axis=1).mean()) for c, vs in by_call.items()}


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    store = make_store(tmp_path)
    yield store
    store.dispose()


# ---- sync ----------------------------------------------------------------------------------


def test_sync_builds_the_file_then_adds_by_watermark(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "similar.index"
    add_call(store, "a", T0, [QUERY[0], None, np.zeros(DIM), QUERY[1]])  # NULL and silent: not indexed
    with capture_logs() as logs:
        index = sync_index(store, path)
    assert [e["event"] for e in logs] == ["similar_index_rebuild"] and "no index yet" in logs[0]["why"]
    ids = segment_ids(store, "a")
    assert index.ids.tolist() == [ids[0], ids[3]] and index.watermark == ids[3]
    assert SegmentIndex.load(path).ids.tolist() == [ids[0], ids[3]]
    written = path.stat().st_mtime_ns

    add_call(store, "b", T0 + timedelta(hours=1), QUERY[:3])
    with capture_logs() as logs:
        index = sync_index(store, path)
    assert logs == []  # loaded and extended, not rebuilt
    assert index.ids.tolist() == [ids[0], ids[3], *segment_ids(store, "b")]
    assert SegmentIndex.load(path).ids.tolist() == index.ids.tolist()
    assert path.stat().st_mtime_ns != written
    written = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert sync_index(store, path).ids.tolist() == index.ids.tolist()
    assert path.stat().st_mtime_ns == written  # nothing new: not rewritten

    add_call(store, "c", T0 + timedelta(hours=2), [None, None])  # only NULL embeddings: the index is the same
    assert sync_index(store, path).ids.tolist() == index.ids.tolist()
    assert path.stat().st_mtime_ns == written


@pytest.mark.parametrize("damage", ["garbage", "truncated", "marker lost", "marker of another file"])
def test_a_damaged_index_file_is_rebuilt(store: RecordStore, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "similar.index"
    clinic(store)
    expected = sync_index(store, path).ids.tolist()
    marker = path.with_name("similar.index.sync")
    if damage == "garbage":
        path.write_bytes(b"not an index at all" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "marker lost":
        marker.unlink()
    else:
        data = json.loads(marker.read_text())
        marker.write_text(json.dumps({**data, "digest": "0" * 32}))
    with capture_logs() as logs:
        index = sync_index(store, path)
    assert [e["event"] for e in logs] == ["similar_index_rebuild"] and logs[0]["log_level"] == "warning"
    assert index.ids.tolist() == expected == SegmentIndex.load(path).ids.tolist()
    with capture_logs() as logs:
        sync_index(store, path)
    assert logs == []


def test_purged_calls_leave_the_index_and_the_results(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "similar.index"
    add_call(store, "old-copy", T0 - timedelta(days=200), near(QUERY, 0.05, 7))
    clinic(store)
    old = segment_ids(store, "old-copy")
    index = sync_index(store, path)
    assert similar_to_call(store, index, "query").calls[0].call_id == "old-copy"
    queries.purge(store, retention_days=90, now=T0 + timedelta(days=1))
    with capture_logs() as logs:
        index = sync_index(store, path)
    assert [e["event"] for e in logs] == ["similar_index_reconciled"] and logs[0]["removed"] == len(old)
    assert not set(old) & set(index.ids.tolist()) and len(index) == len(segment_ids(store))
    found = similar_to_call(store, index, "query").calls
    assert "old-copy" not in [c.call_id for c in found] and found[0].call_id == "copy"


def test_a_row_committed_late_below_the_watermark_is_added(store: RecordStore, tmp_path: Path) -> None:
    """PostgreSQL hands out ids before commit: a segment may appear below the highest id synced."""
    path = tmp_path / "similar.index"
    clinic(store)
    sync_index(store, path)
    gap = segment_ids(store, "unlike")[1]
    with store.reading() as conn:
        conn.execute(delete(schema.emotion_segments).where(schema.emotion_segments.c.id == gap))
    assert gap not in sync_index(store, path).ids.tolist()
    vector = unit(MANNERS[4]).astype("<f4")
    with store.reading() as conn:
        conn.execute(insert(schema.emotion_segments).values(
            id=gap, call_id="unlike", seq=99, begin_s=20.0, end_s=22.0, valence=0.0, arousal=0.5, burst="none",
            burst_score=0.0, prosody={}, embedding=vector.tobytes()))
    index = sync_index(store, path)
    assert gap in index.ids.tolist()
    assert index.search(vector, 1)[0].segment_id == gap


def test_reused_ids_after_purging_the_newest_calls_are_not_mistaken(store: RecordStore, tmp_path: Path) -> None:
    """SQLite gives a new row max(rowid) + 1: purge every call and the next call's segments reuse
    the ids the index already holds, with other vectors."""
    path = tmp_path / "similar.index"
    clinic(store)
    before = sync_index(store, path)
    queries.purge(store, retention_days=1, now=T0 + timedelta(days=30))
    fresh = near(MANNERS[[6, 6, 7, 7, 5]], 0.05, 9)
    add_call(store, "new", T0 + timedelta(days=30), fresh)
    assert set(segment_ids(store)) <= set(before.ids.tolist())  # the same ids again
    with capture_logs() as logs:
        index = sync_index(store, path)
    assert logs[0]["event"] == "similar_index_rebuild" and "gone or belongs to another call" in logs[0]["why"]
    assert index.ids.tolist() == segment_ids(store)
    hit = index.search(fresh[2], 1)[0]
    assert hit.segment_id == segment_ids(store, "new")[2] and hit.similarity > 0.999


def test_sync_waits_for_the_file_lock(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "similar.index"
    clinic(store)
    done = threading.Event()
    with open(tmp_path / "similar.index.lock", "a+b") as other:  # another process syncing
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        thread = threading.Thread(target=lambda: (sync_index(store, path), done.set()))
        thread.start()
        time.sleep(0.4)
        assert not done.is_set() and not path.exists()
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    thread.join(10)
    assert done.is_set() and path.exists()


def test_keeper_syncs_in_memory_and_saves_at_most_so_often(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "similar.index"
    clinic(store)
    keeper = IndexKeeper(store, path, save_every_s=3600)
    with keeper.synced() as index:
        first = index.ids.tolist()
    assert SegmentIndex.load(path).ids.tolist() == first
    add_call(store, "later", T0 + timedelta(hours=9), QUERY[:2])
    with keeper.synced() as index:
        assert index.ids.tolist() == first + segment_ids(store, "later")
        assert similar_to_call(store, index, "later").calls[0].call_id in ("query", "copy")
    assert SegmentIndex.load(path).ids.tolist() == first  # not yet written back
    keeper.save_every_s = 0
    with keeper.synced():
        pass
    assert sync_index(store, path).ids.tolist() == segment_ids(store)  # the keeper's file, with its marker
    queries.purge(store, retention_days=90, now=T0 + timedelta(days=91, hours=5))  # all but "later"
    with keeper.synced() as index:
        assert index.ids.tolist() == segment_ids(store, "later")


# ---- ranking -------------------------------------------------------------------------------


def test_calls_rank_by_the_mean_of_each_query_segments_best_match(store: RecordStore, tmp_path: Path) -> None:
    clinic(store)
    index = sync_index(store, tmp_path / "similar.index")
    result = similar_to_call(store, index, "query", k=10)
    ranked = [c.call_id for c in result.calls]
    assert "query" not in ranked  # never itself
    expected = exact_scores(store, QUERY)
    assert ranked == sorted(expected, key=lambda c: -expected[c])
    assert ranked[0] == "copy" and ranked[-1] == "unlike"
    # a long call repeating one shared manner does not beat one sharing two: each query moment counts once
    assert ranked.index("two-manners") < ranked.index("one-manner")
    assert [c.score for c in result.calls] == pytest.approx([expected[c] for c in ranked], abs=1e-4)
    assert (result.query_call_id, result.query_segments, result.k) == ("query", 5, 10)

    best = result.calls[0]
    assert best.urgent and best.status == "ended" and best.end_reason == "caller hung up"
    assert 1 <= len(best.moments) <= 3 and best.moments[0].similarity >= best.moments[-1].similarity
    for m in best.moments:  # a near copy: each query moment matches the same moment of the copy
        assert (m.query_begin_s, m.query_end_s) == (m.begin_s, m.end_s) and m.similarity > 0.95
    sigh = [m for m in best.moments if m.begin_s == 2.0]
    assert all(m.burst == "sigh" and m.valence == pytest.approx(-0.1) for m in sigh)

    assert [c.call_id for c in similar_to_call(store, index, "query", k=2).calls] == ranked[:2]


def test_a_long_call_can_be_judged_by_moments_spread_over_it(store: RecordStore, tmp_path: Path) -> None:
    clinic(store)
    index = sync_index(store, tmp_path / "similar.index")
    sampled = similar_to_call(store, index, "query", k=10, max_queries=3)
    assert sampled.query_segments == 3  # the first, the middle and the last of the five
    assert sorted(m.query_begin_s for m in sampled.calls[0].moments) == [0.0, 4.0, 8.0]
    assert sampled.calls[0].call_id == "copy" and sampled.calls[-1].call_id == "unlike"
    assert similar_to_call(store, index, "query", max_queries=50).query_segments == 5  # fewer than asked: all


def test_since_keeps_calls_started_from_then(store: RecordStore, tmp_path: Path) -> None:
    clinic(store)
    index = sync_index(store, tmp_path / "similar.index")
    since = T0 + timedelta(hours=2)
    result = similar_to_call(store, index, "query", since=since)
    assert {c.call_id for c in result.calls} == {"one-manner", "two-manners", "unlike"}
    assert all(c.started_at >= since for c in result.calls) and result.since == since
    assert similar_to_call(store, index, "query", since=T0 + timedelta(days=1)).calls == ()


def test_audio_vectors_find_the_calls_they_sound_like(store: RecordStore, tmp_path: Path) -> None:
    clinic(store)
    index = sync_index(store, tmp_path / "similar.index")
    segments = [(2.0 * i, 2.0 * i + 2, v) for i, v in enumerate(near(QUERY, 0.02, 11))] + [(10.0, 12.0, np.zeros(DIM))]
    result = similar_to_vectors(store, index, segments, k=3)
    assert result.query_call_id is None and result.query_segments == 5  # the silent one is not a query
    expected = exact_scores(store, np.array([v for _, _, v in segments[:5]]), skip=None)
    assert [c.call_id for c in result.calls] == sorted(expected, key=lambda c: -expected[c])[:3]
    assert {c.call_id for c in result.calls[:2]} == {"query", "copy"}
    with pytest.raises(QueryError, match="no segment with an embedding"):
        similar_to_vectors(store, index, [(0.0, 2.0, np.zeros(DIM))])
    with pytest.raises(QueryError, match="has 3 values"):
        similar_to_vectors(store, index, [(0.0, 2.0, np.ones(3))])


def test_unknown_calls_calls_without_audio_and_bad_k(store: RecordStore, tmp_path: Path) -> None:
    clinic(store)
    add_call(store, "silent", T0 + timedelta(hours=5), [None, np.zeros(DIM)])
    index = sync_index(store, tmp_path / "similar.index")
    with pytest.raises(NotFound, match="no call nope"):
        similar_to_call(store, index, "nope")
    with pytest.raises(QueryError, match="call silent has no audio embeddings"):
        similar_to_call(store, index, "silent")
    for k in (0, 101):
        with pytest.raises(QueryError, match="between 1 and 100"):
            similar_to_call(store, index, "query", k=k)


def test_results_hold_no_phi(store: RecordStore, tmp_path: Path) -> None:
    clinic(store)
    index = sync_index(store, tmp_path / "similar.index")
    result = similar_to_call(store, index, "query").as_dict()
    text = json.dumps(result)
    assert "sip:" not in text and caller_of("copy") not in text
    assert set(result) == {"query_call_id", "query_segments", "k", "since", "calls"}
    assert set(result["calls"][0]) == {"call_id", "started_at", "status", "urgent", "end_reason", "score", "moments"}
    assert set(result["calls"][0]["moments"][0]) == {"query_begin_s", "query_end_s", "begin_s", "end_s", "similarity",
                                                     "valence", "arousal", "burst"}
    assert result["calls"][0]["started_at"].endswith("Z")


def test_the_same_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    store = make_store(tmp_path, url=postgres_url)
    try:
        add_call(store, "old-copy", T0 - timedelta(days=200), near(QUERY, 0.05, 7))
        clinic(store)
        path = tmp_path / "similar.index"
        assert similar_to_call(store, sync_index(store, path), "query").calls[0].call_id == "old-copy"
        queries.purge(store, retention_days=90, now=T0 + timedelta(days=1))
        add_call(store, "later", T0 + timedelta(hours=9), QUERY[:2])
        index = sync_index(store, path)
        assert index.ids.tolist() == segment_ids(store)
        assert [c.call_id for c in similar_to_call(store, index, "query").calls][:1] == ["copy"]
    finally:
        store.dispose()
