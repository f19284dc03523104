"""Calls that sounded like this one (issue 16): the segment index kept in step with the call store,
and the search that turns nearest segments into nearest calls.

**Keeping the index in step** (:func:`sync_index`, :class:`IndexKeeper`). The database is the truth;
the index file (``records.index_path()``) is a cache of it, shared by the server and the CLI under
an ``fcntl`` lock. A sync loads the file (missing or unreadable: rebuilt from the database, logged),
adds the rows whose id is above the index's watermark, and notices deletions with one statement
(counts through an index, no table scan): beside the index a small marker file records, for the index it was
written with (ids digest), the highest segment id then (the *ceiling*), which row that was (call
and seq) and how many rows had ids up to it. Then:

* rows were deleted at or below the ceiling (a retention purge) or committed late there (PostgreSQL
  hands out ids before commit) when that count changed: the rows up to the ceiling are read
  again in batches, ids gone are removed and ids missing are added (seconds at a million, after a
  purge only);
* the ceiling row itself gone or different means the newest rows were purged, and SQLite hands
  their ids out again (``max(rowid) + 1``): the index is rebuilt rather than mistake a new segment
  for an old one (only when every call newer than the purged ones is gone too, so rarely);
* a marker that does not match the index file (a crash between the two writes) also rebuilds.

**Ranking** (:func:`similar_to_call`, :func:`similar_to_vectors`). Each query segment's nearest
``CANDIDATES_PER_K * k`` segments (the query call's own excluded, ``since`` applied inside the
index) nominate calls; the ``RERANK_PER_K * k`` calls with the most nearest-segment similarity
among them are scored exactly from their stored embeddings: a call's **score is the mean, over the
query's segments, of each one's best cosine similarity to any segment of that call**. A call scores
high when every moment of the query has a counterpart in it, not when one moment happens to match,
and a long call is not favoured for having more segments. The top ``k`` come back with their best
moments (query time <-> matched time, similarity, how the matched moment sounded). No PHI: no
caller numbers, no slots, no words."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from sqlalchemy import Connection, func, select

from agent.services.records import schema
from agent.services.records.queries import NotFound, QueryError, _Json
from agent.services.records.similar import IndexFileError, SegmentIndex
from agent.services.records.store import RecordStore, StoreUnavailable

DIM = 64  # emotion/models/embedding.py
BATCH = 20_000  # segment rows read per statement while syncing (5 MB of embeddings)
IN_CHUNK = 900  # ids per IN (...) list: under SQLite's old 999-variable limit
CANDIDATES_PER_K = 5  # nearest segments asked for per query segment: 5 k
RERANK_PER_K = 3  # calls scored exactly: 3 k (at least MIN_RERANK)
MIN_RERANK = 30
MOMENTS = 3  # best moments shown per call
MAX_K = 100
LOCK_WAIT_S = 120.0  # a rebuild at a million segments takes seconds; anything longer is stuck
SAVE_EVERY_S = 300.0  # IndexKeeper: write the file at most this often (it is a cache; saving 1M takes 2 s)

log = structlog.get_logger(component="records")


# ---- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment(_Json):
    """A query segment and its best match in the similar call (times in seconds from each call's
    answer, or from the start of the audio file), with how the matched moment sounded."""

    query_begin_s: float
    query_end_s: float
    begin_s: float
    end_s: float
    similarity: float  # cosine, -1..1
    valence: float
    arousal: float
    burst: str  # none, sigh, laugh, cry, ...


@dataclass(frozen=True)
class SimilarCall(_Json):
    """One call that sounded like the query; ``score`` is the mean over the query's segments of
    each one's best similarity in this call. No PHI."""

    call_id: str
    started_at: datetime
    status: str  # active, ended, interrupted
    urgent: bool
    end_reason: str | None
    score: float
    moments: tuple[Moment, ...]  # the best first


@dataclass(frozen=True)
class SimilarResult(_Json):
    """The most similar calls, best first. ``query_call_id`` is null for an audio file;
    ``query_segments`` counts the query's segments with an embedding (silence has none)."""

    query_call_id: str | None
    query_segments: int
    k: int
    since: datetime | None
    calls: tuple[SimilarCall, ...]


# ---- syncing the index with the store ------------------------------------------------------


@dataclass(frozen=True)
class _Marker:
    """What the store held when the index was last synced (see the module docstring)."""

    digest: str  # of the index's ids: pairs this marker with one index file
    watermark: int
    ceiling: int  # the highest segment id then (0: none)
    rows: int  # segment rows with id <= ceiling then
    top: tuple[str, int] | None  # (call_id, seq) of the ceiling row


@dataclass(frozen=True)
class _Snapshot:
    """One statement's view of the segments table: one snapshot on SQLite and PostgreSQL alike."""

    ceiling: int
    rows: int
    top: tuple[str, int] | None
    above: int  # rows with id above the previous ceiling
    at_old: tuple[str, int] | None  # the row at the previous ceiling, if still there


def _digest(index: SegmentIndex) -> str:
    return hashlib.blake2b(index.ids.tobytes(), digest_size=16).hexdigest()


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".sync")


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """One writer of the index file at a time across processes (the server and any CLI)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(_lock_path(path), "a+b")  # closed below, after the lock is released
    except OSError as exc:
        raise StoreUnavailable(f"{_lock_path(path)}: cannot lock the similar-call index ({exc}); check records.data_dir") from None
    with f:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreUnavailable(f"{path}: the similar-call index has been locked by another process for over "
                                           f"{LOCK_WAIT_S:.0f} s; try again, or look for a stuck bedside process") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _load(path: Path, dim: int) -> tuple[SegmentIndex, _Marker | None]:
    """The saved index and its marker; an empty index and no marker (rebuild) when either is unusable."""
    try:
        index = SegmentIndex.load(path, dim)
    except IndexFileError as exc:
        if path.exists():
            log.warning("similar_index_rebuild", why=str(exc))
        else:
            log.info("similar_index_rebuild", why=f"{path}: no index yet")
        return SegmentIndex(dim), None
    try:
        data = json.loads(_marker_path(path).read_text())
        marker = _Marker(str(data["digest"]), int(data["watermark"]), int(data["ceiling"]), int(data["rows"]),
                         None if data["top"] is None else (str(data["top"][0]), int(data["top"][1])))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("similar_index_rebuild", why=f"{_marker_path(path)}: unreadable ({exc})")
        return SegmentIndex(dim), None
    if marker.digest != _digest(index) or marker.watermark != index.watermark:
        log.warning("similar_index_rebuild", why=f"{_marker_path(path)} describes another index file")
        return SegmentIndex(dim), None
    return index, marker


def _save(path: Path, index: SegmentIndex | None, marker: _Marker) -> None:
    """Index first (None: unchanged, not rewritten), then its marker, each atomically; a crash
    between the two is caught by the digest. The file is a cache: failing to write it (a full
    disk) is logged, and the search goes on with the index in memory."""
    tmp = _marker_path(path).with_name(f".{_marker_path(path).name}.{os.getpid()}.tmp")
    try:
        if index is not None:
            index.save(path)
        tmp.write_text(json.dumps(asdict(marker)))
        os.replace(tmp, _marker_path(path))
    except OSError as exc:
        log.warning("similar_index_not_saved", path=str(path), error=str(exc))
    finally:
        tmp.unlink(missing_ok=True)


def _snapshot(conn: Connection, old_ceiling: int) -> _Snapshot:
    s = schema.emotion_segments
    top = select(s.c.id).order_by(s.c.id.desc()).limit(1).scalar_subquery()
    row = conn.execute(select(
        select(func.max(s.c.id)).scalar_subquery(),
        select(func.count()).select_from(s).scalar_subquery(),  # SQLite counts through the smallest index
        select(s.c.call_id).where(s.c.id == top).scalar_subquery(),
        select(s.c.seq).where(s.c.id == top).scalar_subquery(),
        select(func.count()).select_from(s).where(s.c.id > old_ceiling).scalar_subquery(),
        select(s.c.call_id).where(s.c.id == old_ceiling).scalar_subquery(),
        select(s.c.seq).where(s.c.id == old_ceiling).scalar_subquery(),
    )).one()
    ceiling, rows, top_call, top_seq, above, old_call, old_seq = row
    return _Snapshot(int(ceiling or 0), int(rows), None if top_call is None else (top_call, int(top_seq)), int(above),
                     None if old_call is None else (old_call, int(old_seq)))


def _vectors(blobs: Sequence[bytes | None], dim: int) -> tuple[np.ndarray, int]:
    """Stored embeddings -> (n, dim) float32; NULL, the wrong size or non-finite -> zeros (not
    indexed). Returns the vectors and how many were unusable (not NULL, yet not a vector)."""
    out = np.zeros((len(blobs), dim), np.float32)
    width, bad = dim * 4, 0
    for i, blob in enumerate(blobs):
        if blob is None:
            continue
        if len(blob) != width:
            bad += 1
            continue
        vector = np.frombuffer(blob, "<f4")
        if np.isfinite(vector).all():
            out[i] = vector
        else:
            bad += 1
    return out, bad


def _read(store: RecordStore, after: int, upto: int, dim: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every segment row with after < id <= upto, in id order, BATCH at a time, as (ids, vectors,
    call start epoch seconds); rows without a usable embedding come as zero vectors."""
    s, c = schema.emotion_segments, schema.calls
    while after < upto:
        with store.reading() as conn:
            rows = conn.execute(select(s.c.id, s.c.embedding, c.c.started_at).join(c, c.c.id == s.c.call_id)
                                .where(s.c.id > after, s.c.id <= upto).order_by(s.c.id).limit(BATCH)).all()
        if not rows:
            return
        vectors, bad = _vectors([r.embedding for r in rows], dim)
        if bad:
            log.warning("similar_index_bad_embeddings", rows=bad, expected=f"{dim} float32", first_id=rows[0].id)
        epoch: dict[datetime, float] = {}  # a call's segments share its start
        for r in rows:
            if r.started_at not in epoch:
                epoch[r.started_at] = r.started_at.timestamp()
        started = np.array([epoch[r.started_at] for r in rows], np.float64)
        yield np.array([r.id for r in rows], np.int64), vectors, started
        after = int(rows[-1].id)
        if len(rows) < BATCH:
            return


def _add(index: SegmentIndex, ids: np.ndarray, vectors: np.ndarray, started: np.ndarray) -> int:
    """Only rows with a vector: a silent or NULL row would move the watermark and so change the
    file for nothing (the marker's ceiling already says how far the store was read)."""
    keep = np.flatnonzero(np.any(vectors != 0, axis=1))
    return index.add(ids[keep], vectors[keep], started[keep])


def _reconcile(store: RecordStore, index: SegmentIndex, ceiling: int) -> tuple[int, int]:
    """Make the index hold exactly the usable rows with id <= ceiling: (removed, added)."""
    held = index.ids.copy()
    removed = added = 0
    last = 0
    for ids, vectors, started in _read(store, 0, ceiling, index.dim):
        hi = ceiling if len(ids) < BATCH else int(ids[-1])
        mine = held[(held > last) & (held <= hi)]
        removed += index.remove(mine[~np.isin(mine, ids)])
        added += _add(index, ids, vectors, started)  # ids already held are skipped
        last = hi
    removed += index.remove(held[held > last])  # nothing left in the store above the last row read
    return removed, added


def _refresh(store: RecordStore, index: SegmentIndex, marker: _Marker | None) -> tuple[SegmentIndex, _Marker, bool]:
    """Bring ``index`` (described by ``marker``; None: empty or untrusted) up to the store's state."""
    dim = index.dim
    changed = marker is None  # built from nothing: written even when the store is empty
    if marker is None and len(index):
        index = SegmentIndex(dim)
    with store.reading() as conn:
        now = _snapshot(conn, marker.ceiling if marker else 0)
    if marker is not None and marker.ceiling and now.at_old != marker.top:
        # The newest rows were purged: their ids can be handed out again, to other calls.
        log.warning("similar_index_rebuild", why=f"segment {marker.ceiling} is gone or belongs to another call now")
        index, marker, changed = SegmentIndex(dim), None, True
    if marker is not None and now.rows - now.above != marker.rows:
        removed, added = _reconcile(store, index, marker.ceiling)
        log.info("similar_index_reconciled", removed=removed, added=added, ceiling=marker.ceiling)
        changed = changed or bool(removed or added)
    start = marker.ceiling if marker is not None else 0
    before = index.watermark
    for ids, vectors, started in _read(store, max(start, index.watermark), now.ceiling, dim):
        changed = _add(index, ids, vectors, started) > 0 or changed
    changed = changed or index.watermark != before
    return index, _Marker(_digest(index), index.watermark, now.ceiling, now.rows, now.top), changed


def _sync_file(store: RecordStore, path: Path, dim: int) -> tuple[SegmentIndex, _Marker]:
    with _file_lock(path):
        index, marker = _load(path, dim)
        index, fresh, changed = _refresh(store, index, marker)
        if changed or fresh != marker:
            _save(path, index if changed else None, fresh)
    return index, fresh


def sync_index(store: RecordStore, path: Path, dim: int = DIM) -> SegmentIndex:
    """The index file at ``path`` brought up to date with ``store`` (built when missing or
    unreadable) and saved when that changed it, all under the file's lock."""
    return _sync_file(store, Path(path), dim)[0]


class IndexKeeper:
    """The index for a long-running process (the records API): loaded once, synced with the store
    in memory before every search (milliseconds), written back at most every ``save_every_s``
    (the file is a cache: whoever loads a stale one syncs it). ``SegmentIndex`` is not
    thread-safe, so a search holds the keeper's lock (:meth:`synced`)."""

    def __init__(self, store: RecordStore, path: Path, dim: int = DIM, save_every_s: float = SAVE_EVERY_S) -> None:
        self.store, self.path, self.dim, self.save_every_s = store, Path(path), dim, save_every_s
        self._lock = threading.Lock()
        self._state: tuple[SegmentIndex, _Marker] | None = None
        self._saved_at = 0.0

    @contextmanager
    def synced(self) -> Iterator[SegmentIndex]:
        with self._lock:
            if self._state is None:
                self._state = _sync_file(self.store, self.path, self.dim)
                self._saved_at = time.monotonic()
            else:
                index, marker, changed = _refresh(self.store, *self._state)
                self._state = index, marker
                if changed and time.monotonic() - self._saved_at >= self.save_every_s:
                    with _file_lock(self.path):
                        _save(self.path, index, marker)
                    self._saved_at = time.monotonic()
            yield self._state[0]


# ---- search --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    begin_s: float
    end_s: float
    vector: np.ndarray  # unit length


def _unit_queries(vectors: Sequence[tuple[float, float, Any]], dim: int) -> list[_Query]:
    out = []
    for begin, end, vector in vectors:
        v = np.asarray(vector, np.float32).reshape(-1)
        if v.shape != (dim,):
            raise QueryError(f"a query embedding has {v.size} values; the index holds {dim}")
        norm = float(np.linalg.norm(v))
        if np.isfinite(v).all() and norm > 0:
            out.append(_Query(float(begin), float(end), v / norm))
    return out


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def similar_to_call(store: RecordStore, index: SegmentIndex, call_id: str, k: int = 10,
                    since: datetime | None = None, max_queries: int | None = None) -> SimilarResult:
    """The ``k`` calls that sounded most like ``call_id`` (never itself). NotFound for an unknown
    call; QueryError for a call without embedded segments (no caller audio was scored).
    ``max_queries``: judge a long call by that many of its moments, evenly spread (the score is a
    mean over moments, so a spread sample estimates it; a 30-minute call's 900 take ~300 ms)."""
    s, c = schema.emotion_segments, schema.calls
    with store.reading() as conn:
        if conn.execute(select(c.c.id).where(c.c.id == call_id)).first() is None:
            raise NotFound(f"no call {call_id} (wrong id, or purged after records.retention_days)")
        rows = conn.execute(select(s.c.id, s.c.begin_s, s.c.end_s, s.c.embedding)
                            .where(s.c.call_id == call_id).order_by(s.c.seq)).all()
    vectors, _ = _vectors([r.embedding for r in rows], index.dim)
    queries = _unit_queries([(r.begin_s, r.end_s, v) for r, v in zip(rows, vectors, strict=True)], index.dim)
    if not queries:
        raise QueryError(f"call {call_id} has no audio embeddings to compare (no caller audio was scored, or only silence)")
    if max_queries is not None and len(queries) > max_queries:
        queries = [queries[i] for i in sorted({round(x) for x in np.linspace(0, len(queries) - 1, max_queries)})]
    return _similar(store, index, queries, k, since, np.array([r.id for r in rows], np.int64), call_id)


def similar_to_vectors(store: RecordStore, index: SegmentIndex, vectors: Sequence[tuple[float, float, Any]],
                       k: int = 10, since: datetime | None = None) -> SimilarResult:
    """The ``k`` calls that sounded most like these (begin_s, end_s, embedding) segments, e.g. an
    audio file's 2-s segments embedded by the emotion embedding model. Silent (zero) ones are skipped."""
    queries = _unit_queries(vectors, index.dim)
    if not queries:
        raise QueryError("the audio has no segment with an embedding to compare (silence, or too short)")
    return _similar(store, index, queries, k, since, None, None)


def _similar(store: RecordStore, index: SegmentIndex, queries: list[_Query], k: int, since: datetime | None,
             exclude: np.ndarray | None, query_call: str | None) -> SimilarResult:
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k {k}: between 1 and {MAX_K}")
    after = None if since is None else since.timestamp()
    hits = [index.search(q.vector, CANDIDATES_PER_K * k, since=after, exclude=exclude) for q in queries]
    candidates = _candidate_calls(store, hits, max(RERANK_PER_K * k, MIN_RERANK))
    calls = _rerank(store, queries, candidates, since, exclude_call=query_call)
    calls.sort(key=lambda call: (-call.score, call.call_id))
    return SimilarResult(query_call, len(queries), k, since, tuple(calls[:k]))


def _candidate_calls(store: RecordStore, hits: list[list[Any]], keep: int) -> list[str]:
    """The calls with the most nearest-segment similarity: for each query segment its best hit in
    a call, summed over the query (0 where a segment found none of that call's)."""
    ids = sorted({n.segment_id for found in hits for n in found})
    call_of: dict[int, str] = {}
    s = schema.emotion_segments
    with store.reading() as conn:
        for chunk in _chunks(ids):
            call_of.update((int(i), str(c)) for i, c in conn.execute(select(s.c.id, s.c.call_id).where(s.c.id.in_(chunk))))
    total: dict[str, float] = {}
    for found in hits:
        best: dict[str, float] = {}
        for n in found:
            call = call_of.get(n.segment_id)  # None: purged since the index was synced
            if call is not None and n.similarity > best.get(call, -2.0):
                best[call] = n.similarity
        for call, sim in best.items():
            total[call] = total.get(call, 0.0) + sim
    return sorted(total, key=lambda call: (-total[call], call))[:keep]


def _rerank(store: RecordStore, queries: list[_Query], call_ids: list[str], since: datetime | None,
            exclude_call: str | None) -> list[SimilarCall]:
    """Exact scores from the stored embeddings: mean over the query of each segment's best match."""
    if not call_ids:
        return []
    s, c = schema.emotion_segments, schema.calls
    with store.reading() as conn:
        where = [c.c.id.in_(call_ids)]
        if since is not None:
            where.append(c.c.started_at >= since)
        info = {r.id: r for r in conn.execute(select(c.c.id, c.c.started_at, c.c.status, c.c.urgent, c.c.end_reason)
                                              .where(*where))}
        segments = conn.execute(select(s.c.call_id, s.c.begin_s, s.c.end_s, s.c.valence, s.c.arousal, s.c.burst,
                                       s.c.embedding).where(s.c.call_id.in_(list(info)), s.c.embedding.is_not(None))
                                .order_by(s.c.call_id, s.c.seq)).all()
    by_call: dict[str, list[Any]] = {}
    for row in segments:
        by_call.setdefault(row.call_id, []).append(row)
    matrix = np.stack([q.vector for q in queries])
    out = []
    for call_id, rows in by_call.items():
        if call_id == exclude_call:
            continue
        vectors, _ = _vectors([r.embedding for r in rows], matrix.shape[1])
        norms = np.linalg.norm(vectors, axis=1)
        usable = np.flatnonzero(norms > 0)
        if not len(usable):
            continue
        sims = matrix @ (vectors[usable] / norms[usable, None]).T  # (query segments, this call's segments)
        best = sims.argmax(axis=1)
        best_sim = np.minimum(sims[np.arange(len(queries)), best], 1.0)
        moments, seen = [], set()
        for qi in np.argsort(-best_sim, kind="stable"):
            at = int(usable[best[qi]])
            if at in seen:  # one moment of this call per line, matched by its best query segment
                continue
            seen.add(at)
            row, q = rows[at], queries[qi]
            moments.append(Moment(round(q.begin_s, 3), round(q.end_s, 3), row.begin_s, row.end_s,
                                  round(float(best_sim[qi]), 4), row.valence, row.arousal, row.burst))
            if len(moments) == MOMENTS:
                break
        call = info[call_id]
        out.append(SimilarCall(call_id, call.started_at, call.status, call.urgent, call.end_reason,
                               round(float(best_sim.mean()), 4), tuple(moments)))
    return out


__all__ = [
    "IndexKeeper", "Moment", "SimilarCall", "SimilarResult", "similar_to_call", "similar_to_vectors", "sync_index",
]
