"""``bedside bench records``: what keeping call records costs (issue 16), on the real code paths.

- **write**: the records writer (``RecordWriter.from_config``: entries -> PHI encrypted -> one
  transaction per batch) on SQLite and PostgreSQL. Throughput of segments alone, of actions alone
  and of whole simulated calls, and how long after ``write()`` an action is committed while
  segments stream: the write-ahead promise (an action is in the database before the line
  announcing it has played) must hold under load, not only on an idle writer.
- **worklist**: staff queries (queries.py) over a store holding ``--calls`` calls, filled in bulk
  through ``RowMaker`` (callers and slots encrypted as in production) and ``RecordStore.apply``.
- **similar**: the similar-call search at ``--segments`` embeddings (agent/app/bench_similar.py).
- **latency**: voice-to-voice at the caller with records on and off *in the same run*: one
  ``bedside serve`` of each, started once and called in the order on, off, off, on (repeated), with
  the same sentences, so a drift in the machine's load falls on both equally.

PostgreSQL is measured only on a server given with ``--postgres-url``; the bench creates and drops
its own scratch databases there and never writes to the database the URL names (it may hold real
calls). The last line printed is one JSON object with every figure."""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from agent.app.child_process import read_events
from agent.app.config import BedsideConfig
from agent.services.metrics import Metrics
from agent.services.records.config import RecordsConfig
from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    CallOpened,
    Entry,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TurnTimed,
)
from agent.services.records.rows import RowMaker, RowWrite, WriteKind
from agent.services.records.store import RecordStore
from agent.services.records.writer import BATCH_MAX, RecordWriter

PARTS = ("write", "worklist", "similar", "latency")
HOST = "bench"
SLOTS = {"full_name": "Maria Lopez", "date_of_birth": "1985-03-03", "callback_phone": "5550104477",
         "reason": "results of my blood test"}
PROSODY = ("anger", "calm", "contempt", "distress", "fear", "joy", "sadness", "surprise", "tiredness")
BURSTS = ("none",) * 12 + ("sigh", "laugh", "cry", "gasp")
TRENDS = ("steady", "improving", "worsening")
CONCURRENT_CALLS = 8  # the simulated calls' entries interleave as a full server's do (sip.max_calls)
LIVE_SEGMENTS_PER_S = 50.0  # 100 concurrent calls, each scoring a 2-s segment
NO_POSTGRES = ("PostgreSQL not measured: give a server with --postgres-url postgresql://USER@HOST:PORT/DB "
               "(scratch databases are created and dropped there), or run scripts/bench-records.sh, "
               "which starts a throwaway one")


def _stats(ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=float)
    return {"n": len(a), "p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "max_ms": round(float(a.max()), 2)}


def _say(message: str) -> None:
    print(f"bench records: {message}", file=sys.stderr, flush=True)


# ---- simulated calls -----------------------------------------------------------------------------


def _embeddings(n: int = 512, dim: int = 64, seed: int = 0) -> list[tuple[float, ...]]:
    """A pool of unit vectors: building 64 floats per segment would time the bench, not the writer."""
    v = np.random.default_rng(seed).standard_normal((n, dim))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return [tuple(float(x) for x in row) for row in v]


def call_timeline(call_id: str, started: datetime, rnd: random.Random, pool: Sequence[tuple[float, ...]],
                  worker: int = 1) -> list[tuple[float, Entry]]:
    """One call as the runtime writes it, in time order (seconds since answer, entry): ~15 scored
    segments with embeddings, ~15 emotion states, ~6 replies, ~5 turn timings, a call-back with
    slots (and, for half the calls, an end-of-call action), opened first and closed last."""
    n_segments, n_states, n_replies = rnd.randint(12, 18), rnd.randint(12, 18), rnd.randint(5, 7)
    length = 2.0 * n_segments + 8.0
    caller = f"sip:+1555{rnd.randrange(10**7):07d}@pbx.example.org"
    out: list[tuple[float, Entry]] = [(0.0, CallOpened(call_id, started, HOST, worker, "g-bench", caller))]
    for seq in range(n_replies):
        at = seq * (length - 2.0) / n_replies
        out.append((at, ReplyLogged(call_id, seq, at, f"turn-{seq}" if seq else "greeting", seq or None, "triage",
                                    "warm", "default")))
        if seq:
            out.append((at + 0.3, TurnTimed(call_id, seq, 1.8, {"vad_ms": 300, "transcript_ms": 480,
                                                                 "reply_ready_ms": 300, "first_audio_ms": 320})))
    for seq in range(n_segments):
        at = 2.0 + 2.0 * seq
        burst = rnd.choice(BURSTS)
        score = rnd.uniform(0.5, 1) if burst != "none" else 0.0
        out.append((at, SegmentScored(call_id, seq, at - 2.0, at, rnd.uniform(-1, 1), rnd.uniform(0, 1), burst, score,
                                      {k: rnd.random() for k in PROSODY}, pool[rnd.randrange(len(pool))])))
    for seq in range(n_states):
        at = 2.1 + seq * (length - 4.0) / n_states
        out.append((at, StateChanged(call_id, seq, at, rnd.uniform(-1, 1), rnd.uniform(0, 1), rnd.choice(TRENDS),
                                     rnd.random(), True, None)))
    at = 0.7 * length
    out.append((at, ActionLogged(call_id, 0, started + timedelta(seconds=at), "callback", "callback", "front_desk",
                                 "routine", "asked to be called back", SLOTS, work_item="callback")))
    if rnd.random() < 0.5:
        out.append((length - 1.0, ActionLogged(call_id, 1, started + timedelta(seconds=length - 1.0), "end_call",
                                               "goodbye")))
    out.append((length, CallClosed(call_id, started + timedelta(seconds=length), "caller hung up", n_replies - 1, 0, 0,
                                   False, False, -0.1, 0.4, "steady")))
    out.sort(key=lambda pair: pair[0])  # stable: the call's opening stays first
    return out


def simulated_calls(n_calls: int, prefix: str, seed: int = 0, worker: int = 1) -> list[Entry]:
    """``n_calls`` calls' entries, ``CONCURRENT_CALLS`` at a time interleaved by time, as a busy
    server's writer receives them (batches then alternate between tables, as in production)."""
    rnd, pool = random.Random(seed), _embeddings(seed=seed)
    now = datetime.now(UTC)
    out: list[Entry] = []
    for first in range(0, n_calls, CONCURRENT_CALLS):
        timelines = []
        for n in range(first, min(first + CONCURRENT_CALLS, n_calls)):
            offset = rnd.uniform(0, 10)
            started = now - timedelta(minutes=n_calls - n)
            timelines.append([(at + offset, e) for at, e in call_timeline(f"{prefix}-{n:06d}", started, rnd, pool, worker)])
        out += [e for _, e in heapq.merge(*timelines, key=lambda pair: pair[0])]
    return out


# ---- backends ------------------------------------------------------------------------------------


@contextmanager
def scratch_postgres(url: str, purpose: str) -> Iterator[str]:
    """A fresh database on the server ``url`` points at, dropped afterwards. Never the database the
    URL names: that may be a clinic's records, and the bench writes 100,000 made-up calls."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(RecordsConfig(url=url).database_url())
    name = f"bedside_bench_{purpose}_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def backends(postgres_url: str | None, purpose: str, workdir: Path) -> Iterator[list[tuple[str, str | None, Path]]]:
    """(name, records.url, data dir) per backend measured: SQLite in the work dir (on disk, as a
    clinic's would be), and PostgreSQL when a server was given."""
    sqlite_dir = workdir / f"{purpose}-sqlite"
    if postgres_url is None:
        yield [("sqlite", None, sqlite_dir)]
        return
    with scratch_postgres(postgres_url, purpose) as pg:
        yield [("sqlite", None, sqlite_dir), ("postgresql", pg, workdir / f"{purpose}-postgresql")]


# ---- write ---------------------------------------------------------------------------------------


class CommitTap:
    """The writer's ``on_committed``: it runs on the writer thread right after each commit, so it
    counts committed rows per table and times each action from ``write()`` to its commit."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.rows: Counter[str] = Counter()
        self.commits = 0
        self.sent: dict[tuple[str, int], float] = {}
        self.action_ms: list[float] = []

    def committed(self, writes: Sequence[RowWrite]) -> None:
        now = time.perf_counter()
        with self.cond:
            self.commits += 1
            for w in writes:
                self.rows[w.table] += 1
                if w.table == "actions":
                    sent = self.sent.pop((w.values["call_id"], w.values["seq"]), None)
                    if sent is not None:
                        self.action_ms.append((now - sent) * 1000.0)
            self.cond.notify_all()

    def write_timed(self, writer: RecordWriter, action: ActionLogged) -> None:
        with self.cond:
            self.sent[(action.call_id, action.seq)] = time.perf_counter()
        writer.write(action)

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        with self.cond:
            if not self.cond.wait_for(done, timeout):
                raise SystemExit(f"bench records: {what} not committed within {timeout:g} s")


def _writer(url: str | None, data_dir: Path, keys: KeyRing, tap: CommitTap, worker: int,
            queue_size: int = 10000) -> RecordWriter:
    config = RecordsConfig(data_dir=data_dir, url=url, queue_size=queue_size)
    writer = RecordWriter.from_config(config, keys, Metrics(), HOST, worker, on_committed=tap.committed)
    writer.start()
    if not writer.wait_ready(60):
        raise SystemExit(f"bench records: the store did not answer: {writer.status.last_error}")
    return writer


def _open_calls(writer: RecordWriter, tap: CommitTap, opened: Sequence[Entry]) -> None:
    for entry in opened:
        writer.write(entry)
    tap.wait(lambda: tap.rows["calls"] >= len(opened), 300, "the calls' openings")


def write_throughput(url: str | None, data_dir: Path, keys: KeyRing, opened: Sequence[Entry],
                     timed: Sequence[Entry], worker: int) -> dict[str, Any]:
    """Entries and rows per second from the first ``write()`` to the last commit (``close()``).
    The queue holds the whole run, so the writer thread, not the feeder, sets the pace; the calls
    the entries belong to are committed beforehand, untimed."""
    tap = CommitTap()
    writer = _writer(url, data_dir, keys, tap, worker, queue_size=len(opened) + len(timed) + 100)
    _open_calls(writer, tap, opened)
    rows_before, commits_before = sum(tap.rows.values()), tap.commits
    started = time.perf_counter()
    for entry in timed:
        writer.write(entry)
    writer.close(timeout=900)
    seconds = time.perf_counter() - started
    rows, commits = sum(tap.rows.values()) - rows_before, tap.commits - commits_before
    if writer.status.spooled or writer.status.lost or rows < len(timed):
        raise SystemExit(f"bench records: the writer did not commit everything: {writer.status}")
    return {"entries": len(timed), "rows": rows, "seconds": round(seconds, 3),
            "entries_per_s": round(len(timed) / seconds), "rows_per_s": round(rows / seconds),
            "rows_per_transaction": round(rows / max(commits, 1), 1)}


def action_commit_latency(url: str | None, data_dir: Path, keys: KeyRing, segments_per_s: float | None,
                          actions: int, worker: int, gap_s: float = 0.02) -> dict[str, Any]:
    """How long after ``write()`` a call-back action is committed while segments stream in, at
    ``segments_per_s`` or (None) as fast as the writer takes them, with up to two full batches
    queued ahead of each action: the worst a busy writer makes an action wait."""
    tap = CommitTap()
    writer = _writer(url, data_dir, keys, tap, worker)
    pool, rnd = _embeddings(seed=worker), random.Random(worker)
    calls = [f"lat{worker}-{n:03d}" for n in range(50)]
    now = datetime.now(UTC)
    _open_calls(writer, tap, [CallOpened(c, now, HOST, worker, "g-bench", "sip:+15550100000@pbx.example.org") for c in calls])
    stop, streamed = threading.Event(), [0]

    def stream() -> None:
        seq, t0 = 0, time.perf_counter()
        while not stop.is_set():
            if segments_per_s is None:
                tap.wait(lambda: stop.is_set() or streamed[0] - tap.rows["emotion_segments"] < 2 * BATCH_MAX, 60,
                         "the streamed segments")
                burst = 500
            else:
                burst = int((time.perf_counter() - t0) * segments_per_s) - streamed[0]
                if burst <= 0:
                    time.sleep(0.002)
                    continue
            for _ in range(burst):
                call = calls[seq % len(calls)]
                writer.write(SegmentScored(call, seq // len(calls), 0.0, 2.0, -0.2, 0.5, "none", 0.0,
                                           {k: 0.1 for k in PROSODY}, pool[rnd.randrange(len(pool))]))
                seq += 1
            streamed[0] += burst

    thread = threading.Thread(target=stream, name="bench-segments", daemon=True)
    thread.start()
    # The stream reaches its pace first (saturated: a full batch committed).
    warm = BATCH_MAX if segments_per_s is None else 1
    time.sleep(0.2)
    tap.wait(lambda: tap.rows["emotion_segments"] >= warm, 60, "the first segments")
    segments0, t0 = tap.rows["emotion_segments"], time.perf_counter()
    for n in range(actions):
        call = calls[n % len(calls)]
        tap.write_timed(writer, ActionLogged(call, n // len(calls), datetime.now(UTC), "callback", "callback",
                                             "front_desk", "routine", "asked to be called back", SLOTS,
                                             work_item="callback"))
        time.sleep(gap_s)
    tap.wait(lambda: len(tap.action_ms) >= actions, 120, "the timed actions")
    elapsed, segments = time.perf_counter() - t0, tap.rows["emotion_segments"] - segments0
    stop.set()
    thread.join(30)
    writer.close(timeout=300)
    if writer.status.spooled or writer.status.lost:
        raise SystemExit(f"bench records: entries were spooled or lost: {writer.status}")
    return {"segments_per_s": round(segments / elapsed), **_stats(tap.action_ms)}


def run_write(args: argparse.Namespace, workdir: Path, keys: KeyRing) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": args.write_calls, "concurrent_calls": CONCURRENT_CALLS}
    with backends(args.postgres_url, "write", workdir) as measured:
        for worker, (name, url, data_dir) in enumerate(measured, 1):
            result: dict[str, Any] = {}
            base = worker * 10
            for run, (label, keep) in enumerate((("segments", SegmentScored), ("actions", ActionLogged),
                                                 ("call_mix", None))):
                entries = simulated_calls(args.write_calls, f"{label[:3]}{worker}", seed=run, worker=base + run)
                opened = [e for e in entries if isinstance(e, CallOpened)] if keep is not None else []
                timed = entries if keep is None else [e for e in entries if isinstance(e, keep)]
                _say(f"write, {name}: {label} ({len(timed):,} entries)")
                result[label] = write_throughput(url, data_dir, keys, opened, timed, base + run)
            for run, (label, rate) in enumerate((("action_commit_live", LIVE_SEGMENTS_PER_S),
                                                 ("action_commit_saturated", None)), 3):
                _say(f"write, {name}: {label}")
                result[label] = action_commit_latency(url, data_dir, keys, rate, args.actions, base + run)
            out[name] = result
    if args.postgres_url is None:
        out["postgresql"] = {"measured": False, "why": NO_POSTGRES}
    return out


# ---- worklist ------------------------------------------------------------------------------------


def fill_store(store: RecordStore, calls: int, now: datetime, seed: int = 0, detail_every: int = 50,
               batch_calls: int = 5000) -> dict[str, Any]:
    """``calls`` calls over the last 90 days (retention's default), through RowMaker so callers and
    slots are encrypted, inserted by ``store.apply`` in one transaction per ``batch_calls`` calls.

    20 % asked for a call-back (a work item): open for 70 % of the last week's, 10 % of older ones
    (staff close the rest, 9 in 10 as done); 3 % were urgent; the newest 5 are still active. Every
    ``detail_every``-th call also gets its replies, timings, states and segments (with embeddings):
    the calls ``show_call`` is timed on; the rest have only what the lists read."""
    rnd, pool = random.Random(seed), _embeddings(seed=seed)
    maker = RowMaker(store.keys, keep_transcripts=False, expire_after=timedelta(days=1))
    span = timedelta(days=90)
    tables = ("calls", "actions", "work_items", "replies", "turn_timings", "emotion_states", "emotion_segments")
    batch: dict[str, list[RowWrite]] = {t: [] for t in tables}
    ids: set[str] = set()
    detailed: list[str] = []
    counts: Counter[str] = Counter()
    started_fill = time.perf_counter()

    def flush() -> None:
        store.apply([w for t in tables for w in batch[t]])  # parents first: foreign keys are checked at once
        for t in tables:
            counts[t] += len(batch[t])
            batch[t].clear()

    for n in range(calls):
        while (call_id := f"in-{rnd.getrandbits(40):010x}") in ids:
            pass
        ids.add(call_id)
        started = now - span * (1 - n / calls) + timedelta(seconds=rnd.uniform(-30, 30))
        length = timedelta(seconds=rnd.uniform(30, 50))
        active = n >= calls - 5
        urgent = rnd.random() < 0.03
        (call,) = maker.rows(CallOpened(call_id, started, HOST, 1, "g-bench",
                                        f"sip:+1555{rnd.randrange(10**7):07d}@pbx.example.org"))
        batch["calls"].append(RowWrite(WriteKind.INSERT, "calls", {
            **call.values, "status": "active" if active else "ended", "turns": rnd.randint(3, 7), "urgent": urgent,
            "handed_off": rnd.random() < 0.05, "ended_at": None if active else started + length,
            "end_reason": None if active else "caller hung up", "final_valence": rnd.uniform(-1, 1),
            "final_arousal": rnd.uniform(0, 1), "final_trend": rnd.choice(TRENDS),
        }))
        if rnd.random() < 0.2:
            action = ActionLogged(call_id, 0, started + 0.7 * length, "callback", "callback", "front_desk", "routine",
                                  "asked to be called back", SLOTS, work_item="callback")
            action_row, item = maker.rows(action)
            recent = now - started < timedelta(days=7)
            is_open = active or rnd.random() < (0.7 if recent else 0.1)
            closed_at = None if is_open else min(now, started + timedelta(hours=rnd.uniform(0.5, 48)))
            state = "open" if is_open else ("done" if rnd.random() < 0.9 else "cancelled")
            batch["actions"].append(action_row)
            batch["work_items"].append(RowWrite(WriteKind.INSERT, "work_items", {
                **item.values, "priority": "urgent" if urgent else "routine", "state": state, "closed_at": closed_at,
                "closed_by": None if is_open else f"staff-{rnd.randrange(12)}",
            }))
        if n % detail_every == 0:  # the whole record, as a call writes it (its own actions aside)
            detailed.append(call_id)
            for _, entry in call_timeline(call_id, started, rnd, pool):
                if isinstance(entry, (ReplyLogged, TurnTimed, StateChanged, SegmentScored)):
                    for row in maker.rows(entry):
                        batch[row.table].append(row)
        if (n + 1) % batch_calls == 0:
            flush()
    flush()
    seconds = time.perf_counter() - started_fill
    rows = sum(counts.values())
    return {"calls": counts["calls"], "work_items": counts["work_items"], "detailed_calls": len(detailed),
            "rows": rows, "fill_s": round(seconds, 1), "rows_per_s": round(rows / seconds), "_detailed": detailed}


def _timed(fn: Callable[[int], object], runs: int) -> dict[str, float]:
    fn(0)  # warm: the first run pays for SQLAlchemy's statement compilation, not the database
    times = []
    for n in range(runs):
        t0 = time.perf_counter()
        fn(n)
        times.append((time.perf_counter() - t0) * 1000.0)
    return _stats(times)


def worklist_queries(store: RecordStore, detailed: Sequence[str], runs: int, now: datetime,
                     later_page: int = 10) -> dict[str, Any]:
    """p50/p95 of what staff open all day, each query ``runs`` times."""
    from agent.services.records import queries

    page = 1
    first = queries.work_items(store, open_only=True, limit=100)
    cursor = first.next_cursor
    while page < later_page - 1 and cursor is not None:  # the cursor of page ``later_page``
        following = queries.work_items(store, open_only=True, limit=100, cursor=cursor)
        if following.next_cursor is None:
            break
        cursor, page = following.next_cursor, page + 1
    week_ago = now - timedelta(days=7)
    out: dict[str, Any] = {"open_items": queries.counts(store).open_items, "later_page": page + 1 if cursor else 1}
    out["worklist_first_page"] = _timed(lambda n: queries.work_items(store, open_only=True, limit=100), runs)
    out["worklist_later_page"] = _timed(lambda n: queries.work_items(store, open_only=True, limit=100, cursor=cursor), runs)
    out["calls_last_7_days"] = _timed(lambda n: queries.list_calls(store, since=week_ago, limit=100), runs)
    out["calls_urgent"] = _timed(lambda n: queries.list_calls(store, urgent=True, limit=100), runs)
    out["show_call"] = _timed(lambda n: queries.show_call(store, detailed[n % len(detailed)]), runs)
    shown = queries.show_call(store, detailed[0])
    if shown is None or not shown.replies or not shown.emotion.states or shown.caller is None:
        raise SystemExit("bench records: show_call did not return the filled call's detail")
    return out


def run_worklist(args: argparse.Namespace, workdir: Path, keys: KeyRing) -> dict[str, Any]:
    from sqlalchemy import text

    out: dict[str, Any] = {"runs": args.queries}
    now = datetime.now(UTC)
    with backends(args.postgres_url, "worklist", workdir) as measured:
        for name, url, data_dir in measured:
            store = RecordStore(RecordsConfig(data_dir=data_dir, url=url).database_url(), keys)
            try:
                store.prepare(migrate=True)
                _say(f"worklist, {name}: filling {args.calls:,} calls")
                fill = fill_store(store, args.calls, now)
                detailed = fill.pop("_detailed")
                if not store.sqlite:
                    # Autovacuum analyzes a bulk load within a minute or so; without statistics the
                    # planner guesses, and the list queries measured 4x slower (12 vs 3 ms at p50).
                    started = time.perf_counter()
                    with store.reading() as conn:
                        conn.execute(text("ANALYZE"))
                    fill["analyze_s"] = round(time.perf_counter() - started, 1)
                _say(f"worklist, {name}: timing the queries ({args.queries} runs each)")
                out[name] = {"fill": fill, **worklist_queries(store, detailed, args.queries, now)}
            finally:
                store.dispose()
    if args.postgres_url is None:
        out["postgresql"] = {"measured": False, "why": NO_POSTGRES}
    return out


# ---- similar -------------------------------------------------------------------------------------


def run_similar(args: argparse.Namespace) -> dict[str, Any]:
    from agent.app.bench_similar import run_similarity_bench

    _say(f"similar: {args.segments:,} segment embeddings")
    return run_similarity_bench(segments=args.segments, queries=args.queries, k=10, seed=0)


# ---- latency -------------------------------------------------------------------------------------


async def _all_presynthesized(log_path: Path, timeout: float = 300.0) -> None:
    """Every SIP worker pre-synthesizes after the front is ready; a call measured meanwhile would
    time that catching up (bench_latency waits for the front only: it calls the front)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e.get("event") for e in read_events(log_path)]
        if events.count("presynthesized") >= 1 + events.count("worker_ready"):
            return
        await asyncio.sleep(1.0)


def _records_flag(log_path: Path) -> object:
    ready = next((e for e in read_events(log_path) if e.get("event") == "ready"), None)
    return None if ready is None else ready.get("records")


def _recorded(data_dir: Path) -> dict[str, int]:
    """What the records-on server stored: proof the comparison had records on."""
    path = data_dir / "records.sqlite3"
    if not path.exists():
        return {"calls": 0}
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("calls", "replies", "turn_timings", "emotion_segments", "emotion_states")}


async def run_latency(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from agent.app.bench_latency import bench_scripts, run_calls, server_stages, start_server, voice_ms, write_scripts
    from agent.app.child_process import free_port

    # The transport floor (scripted replies to recorded sentences): what records could slow is the call path.
    scripts = write_scripts(bench_scripts(BedsideConfig(), "scripted", 1, args.latency_turns, workdir), workdir / "scripts.json")
    servers: dict[str, tuple[asyncio.subprocess.Process, int, Path]] = {}
    order = [mode for _ in range(args.latency_rounds // 2) for mode in ("on", "off", "off", "on")]
    order += ["on", "off"] * (args.latency_rounds % 2)
    latencies: dict[str, list[float]] = {"on": [], "off": []}
    calls: list[dict[str, Any]] = []
    try:
        for mode in ("on", "off"):
            port, log_path = free_port(), workdir / f"server-records-{mode}.log"
            settings = ["turn.responder=scripted", *args.set, f"sip.rtp_port={free_port()}", "sip.rtp_port_range=200",
                        f"records.enabled={'true' if mode == 'on' else 'false'}", f"records.data_dir={workdir / mode}"]
            _say(f"latency: starting the records-{mode} server")
            server_args = argparse.Namespace(emotion="on", config=args.config, set=settings)
            servers[mode] = (await start_server(server_args, port, log_path), port, log_path)
        for mode, (_, _, log_path) in servers.items():
            await _all_presynthesized(log_path)
            if _records_flag(log_path) is not (True if mode == "on" else None):  # ready's records: null when off
                raise SystemExit(f"bench records: the records-{mode} server reports records={_records_flag(log_path)}")
        for n, mode in enumerate(order, 1):
            _say(f"latency: call {n}/{len(order)} to the records-{mode} server ({args.latency_turns} turns)")
            got = voice_ms(await run_calls(f"sip:bedside@127.0.0.1:{servers[mode][1]}", 1, scripts))
            latencies[mode] += got
            calls.append({"records": mode, "turns": len(got), **({"p50_ms": round(float(np.median(got)))} if got else {})})
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
        for proc, _, _ in servers.values():
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
    out: dict[str, Any] = {"turns_per_call": args.latency_turns, "order": order, "calls": calls}
    for mode in ("on", "off"):
        if not latencies[mode]:
            raise SystemExit(f"bench records: no voice-to-voice latency measured with records {mode}")
        server_first = server_stages(read_events(servers[mode][2]))["first_audio_ms"]
        out[mode] = {**_stats(latencies[mode]), "turns_ms": [round(ms, 1) for ms in latencies[mode]],
                     "server_first_audio": _stats(server_first) if server_first else None}
    on, off = out["on"], out["off"]
    out["p50_diff_pct"] = round((on["p50_ms"] / off["p50_ms"] - 1) * 100, 1)
    out["p95_diff_pct"] = round((on["p95_ms"] / off["p95_ms"] - 1) * 100, 1)
    out["p95_within_3pct"] = out["p95_diff_pct"] <= 3.0
    out["recorded"] = _recorded(workdir / "on")
    return out


# ---- report --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?") if Path("/proc/cpuinfo").exists() else "?"
    return {"cpus": os.cpu_count(), "cpu": model, "gpu": Path("/dev/nvidia0").exists(), "date": date.today().isoformat()}


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(result: dict[str, Any]) -> str:
    """The tables docs/benchmarks.md shows."""
    m = result["machine"]
    lines = [f"## Records (`bedside bench records`, {m['date']}, {m['cpus']} CPUs, GPU: {'yes' if m['gpu'] else 'no'})"]
    if any(not result[p]["postgresql"].get("measured", True) for p in ("write", "worklist") if p in result):
        lines += ["", NO_POSTGRES + "."]
    if "write" in result:
        w = result["write"]
        lines += ["", f"### Writer throughput ({w['calls']:,} simulated calls, {w['concurrent_calls']} at a time)", "",
                  _row("backend", "run", "entries", "rows", "entries/s", "rows/s", "rows per transaction"),
                  "|---|---|---|---|---|---|---|"]
        for name in ("sqlite", "postgresql"):
            for run in ("segments", "actions", "call_mix"):
                if run in w.get(name, {}):
                    r = w[name][run]
                    lines.append(_row(name, run, f"{r['entries']:,}", f"{r['rows']:,}", f"{r['entries_per_s']:,}",
                                      f"{r['rows_per_s']:,}", r["rows_per_transaction"]))
        lines += ["", _row("backend", "segments streaming", "segments/s", "actions", "write->commit p50 ms", "p95 ms",
                           "max ms"), "|---|---|---|---|---|---|---|"]
        for name in ("sqlite", "postgresql"):
            for run, label in (("action_commit_live", "live (100 calls)"), ("action_commit_saturated", "saturated")):
                if run in w.get(name, {}):
                    r = w[name][run]
                    lines.append(_row(name, label, f"{r['segments_per_s']:,}", r["n"], r["p50_ms"], r["p95_ms"], r["max_ms"]))
    if "worklist" in result:
        wl = result["worklist"]
        lines += ["", f"### Worklist and call queries ({wl['runs']} runs each)", ""]
        names = [n for n in ("sqlite", "postgresql") if "fill" in wl.get(n, {})]
        lines += [_row("query", *(f"{n} {p} ms" for n in names for p in ("p50", "p95"))),
                  "|---|" + "---|" * (2 * len(names))]
        for q in ("worklist_first_page", "worklist_later_page", "calls_last_7_days", "calls_urgent", "show_call"):
            lines.append(_row(q, *(wl[n][q][f"{p}_ms"] for n in names for p in ("p50", "p95"))))
        for n in names:
            f = wl[n]["fill"]
            lines.append(f"\n{n}: {f['calls']:,} calls, {f['work_items']:,} work items ({wl[n]['open_items']:,} open; "
                         f"the later page is page {wl[n]['later_page']}), {f['rows']:,} rows filled in {f['fill_s']} s "
                         f"({f['rows_per_s']:,} rows/s)"
                         + (f", then ANALYZE in {f['analyze_s']} s." if "analyze_s" in f else "."))
    if "similar" in result:
        s = result["similar"]
        lines += ["", f"### Similar-call search ({s['segments']:,} segments, {s['queries']} queries, k={s['k']})", "",
                  _row("filter", "segments searched", "p50 ms", "p95 ms", "max ms", f"recall@{s['k']}"),
                  "|---|---|---|---|---|---|"]
        for name in ("all", "since_10pct", "since_0.1pct"):
            r = s[name]
            lines.append(_row(name, f"{r['kept']:,}", r["p50_ms"], r["p95_ms"], r["max_ms"], r[f"recall_at_{s['k']}"]))
        lines.append(f"\nbuild {s['build_s']} s, +{s['rss_growth_mb']} MB resident, file {s['file_mb']} MB "
                     f"(save {s['save_s']} s, load {s['load_s']} s), add 1,000: {s['add_1000_ms']} ms.")
    if "latency" in result:
        lt = result["latency"]
        lines += ["", f"### Voice-to-voice with records on and off (calls of {lt['turns_per_call']} turns, "
                      f"order {', '.join(lt['order'])})", "",
                  _row("records", "turns", "p50 ms", "p95 ms", "max ms", "server first frame p50 / p95 ms"),
                  "|---|---|---|---|---|---|"]
        for mode in ("on", "off"):
            r, sf = lt[mode], lt[mode]["server_first_audio"] or {"p50_ms": "-", "p95_ms": "-"}
            lines.append(_row(mode, r["n"], r["p50_ms"], r["p95_ms"], r["max_ms"], f"{sf['p50_ms']} / {sf['p95_ms']}"))
        lines.append(f"\np95 on vs off: {lt['p95_diff_pct']:+} % (bound +3 %: "
                     f"{'met' if lt['p95_within_3pct'] else 'NOT met'}); p50: {lt['p50_diff_pct']:+} %. "
                     f"Stored by the records-on server: {lt['recorded']}.")
        lines.append("Per call, in order (p50 ms): " + ", ".join(f"{c['records']} {c.get('p50_ms', '-')}" for c in lt["calls"]) + ".")
    return "\n".join(lines)


def run_records_bench(args: argparse.Namespace) -> int:
    parts = [p.strip() for p in (args.only or ",".join(PARTS)).split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        print(f"bedside bench records: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if args.no_latency and "latency" in parts:
        parts.remove("latency")
    keys = KeyRing.of([new_key()], "bench key")  # a throwaway key: the data is made up and deleted
    result: dict[str, Any] = {"machine": machine(), "parts": parts}
    with tempfile.TemporaryDirectory(prefix="bedside-bench-records-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        if "write" in parts:
            result["write"] = run_write(args, workdir, keys)
        if "worklist" in parts:
            result["worklist"] = run_worklist(args, workdir, keys)
        if "similar" in parts:
            result["similar"] = run_similar(args)
        if "latency" in parts:
            result["latency"] = asyncio.run(run_latency(args, workdir))
    table = markdown(result)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")
    print(json.dumps(result), flush=True)
    return 0


__all__ = ["call_timeline", "fill_store", "run_records_bench", "simulated_calls"]
