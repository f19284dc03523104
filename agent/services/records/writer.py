"""The records writer: a call's entries reach the database off the call's loop, in order, and
are never lost.

``write`` (the :class:`~agent.services.records.entries.Journal` the call runtime holds) only puts
the entry on a bounded queue — nothing is written on pjsip's clock thread or in front of a reply.
One thread per process takes whatever has queued, encrypts PHI, and commits it as one
transaction, at once: an action is committed within milliseconds of being decided, long before
the sentence announcing it has played. When the store cannot take a batch (down, disk full,
corrupt file, wrong key) the batch goes to the local spool and the thread tries the store again
every ``records.retry_s``; when it answers, the spool is replayed (in order, idempotently) before
anything new. A full queue sends entries straight to the spool. Only when the spool itself cannot
be written is an entry lost — loudly: an ERROR line with the call id and a ``records_lost`` count."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from agent.services.metrics import Metrics
from agent.services.records.config import RecordsConfig
from agent.services.records.crypto import KeyRing, RecordsKeyError
from agent.services.records.entries import Entry
from agent.services.records.rows import RowMaker, RowWrite, utc_now
from agent.services.records.spool import Spool
from agent.services.records.store import RecordStore, StoreError, StoreRejected

BATCH_MAX = 2000
_STOP = object()


@dataclass
class WriterStatus:
    """What ``bedside records status`` and the tests read (counts since start)."""

    healthy: bool = False
    committed: int = 0  # row writes committed to the store
    spooled: int = 0  # row writes put in the spool
    replayed: int = 0  # row writes replayed from the spool
    lost: int = 0  # entries neither stored nor spooled (logged as errors)
    rejected: int = 0  # row writes the store refused, set aside in the spool dir's *.rejected file
    last_error: str | None = None
    interrupted: list[str] = field(default_factory=list)  # calls found cut off by a previous crash


class RecordWriter:
    keeps_transcripts: bool
    delivers_webhooks = True

    def __init__(
        self, store: RecordStore, maker: RowMaker, spool: Spool, metrics: Metrics, *, host: str, worker: int,
        migrate: bool = True, retry_s: float = 5.0, queue_size: int = 10000,
        on_committed: Callable[[Sequence[RowWrite]], None] | None = None,
    ) -> None:
        self.store = store
        self.maker = maker
        self.spool = spool
        self.metrics = metrics
        self.host, self.worker = host, worker
        self.migrate = migrate
        self.retry_s = retry_s
        self.keeps_transcripts = maker.keep_transcripts
        self.on_committed = on_committed
        self.status = WriterStatus()
        self.started_at: datetime = utc_now()  # calls of this host/worker before this were cut off
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        # The spool is written by the thread and, when the queue is full, by write(). Once the queue
        # overflowed, write() spools everything until the thread has drained the queue and replayed
        # the spool (_catch_up): a later entry is never stored before an earlier one.
        self._overflow_lock = threading.RLock()
        self._overflowing = False
        self._thread = threading.Thread(target=self._run, name="records-writer", daemon=True)
        self._next_try = 0.0
        self._prepared = False
        self._first_attempt = threading.Event()
        self.log = structlog.get_logger(component="records")

    @classmethod
    def from_config(
        cls, config: RecordsConfig, keys: KeyRing, metrics: Metrics, host: str, worker: int,
        on_committed: Callable[[Sequence[RowWrite]], None] | None = None,
    ) -> RecordWriter:
        from datetime import timedelta

        maker = RowMaker(keys, config.keep_transcripts, timedelta(seconds=config.outbox.expire_after_s))
        spool = Spool(config.spool_path(), f"{host}-{worker}", config.spool_max_mb * 1_000_000)
        return cls(RecordStore(config.database_url(), keys), maker, spool, metrics, host=host, worker=worker,
                   migrate=config.migrate_on_start, retry_s=config.retry_s, queue_size=config.queue_size,
                   on_committed=on_committed)

    def wait_ready(self, timeout: float) -> bool:
        """Blocks until the first attempt to reach the store has finished; True when it answered."""
        self._first_attempt.wait(timeout)
        return self.status.healthy

    # ---- the call side (any thread, never blocks) ------------------------------------------
    def write(self, entry: Entry) -> None:
        if not self._overflowing:
            try:
                self._queue.put_nowait(entry)
                return
            except queue.Full:
                pass
        with self._overflow_lock:
            if not self._overflowing:
                try:
                    self._queue.put_nowait(entry)
                    return
                except queue.Full:
                    self._overflowing = True
            self.metrics.inc("records_queue_full")
            self._spool_or_lose([entry], "queue full")

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connects (and migrates) on the writer thread: a store that is down does not delay
        start-up; the first calls' records go to the spool until it answers."""
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Commit (or spool) everything queued, then stop. A writer still stuck in the store after
        ``timeout`` (a database that stopped answering mid-transaction) leaves what is still
        queued to the spool, from here, so the process can exit without losing it."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            left: list[Entry] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    left.append(item)  # type: ignore[arg-type]
            self.log.error("records_writer_stuck", store=self.store.where, waited_s=timeout, spooling=len(left))
            self._spool_or_lose(left, "writer stuck at close")
        with self._overflow_lock:
            self.spool.close()

    # ---- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        self._recover()
        self._first_attempt.set()
        stopping = False
        while not stopping:
            timeout = None if self.status.healthy else max(0.05, self._next_try - time.monotonic())
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._recover()
                continue
            batch: list[object] = [first]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(item is _STOP for item in batch)
            entries = [item for item in batch if item is not _STOP]
            if not self.status.healthy and time.monotonic() >= self._next_try:
                self._recover()
            try:
                self._commit(entries)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 - a bug here must not stop every later call's records
                self.log.exception("records_writer_error", calls=sorted({e.call_id for e in entries}))  # type: ignore[union-attr]
                self._spool_or_lose(entries, "writer error")  # type: ignore[arg-type]
            if self._overflowing and self._queue.empty():
                self._catch_up()
        self.store.dispose()

    def _rows(self, entries: Sequence[Entry]) -> list[RowWrite]:
        rows: list[RowWrite] = []
        for entry in entries:
            try:
                rows.extend(self.maker.rows(entry))
            except (TypeError, ValueError) as exc:  # an entry no row can hold: say so, keep the rest
                self.status.lost += 1
                self.metrics.inc("records_lost")
                self.log.error("records_lost", why=f"bad entry {type(entry).__name__}: {exc}", entries=1,
                               calls=[getattr(entry, "call_id", None)])
        return rows

    def _apply(self, writes: Sequence[RowWrite]) -> None:
        """Commit ``writes``; a batch the database refuses is retried write by write and what it
        refuses alone is set aside. Raises StoreUnavailable (nothing of that batch committed yet
        in the failing transaction; every write is idempotent, so the spool may hold it again)."""
        try:
            self.store.apply(writes)
        except StoreRejected:
            for write in writes:
                try:
                    self.store.apply([write])
                except StoreRejected as exc:
                    self._reject(write, str(exc))

    def _reject(self, write: RowWrite, why: str) -> None:
        self.status.rejected += 1
        self.metrics.inc("records_rejected")
        call = write.values.get("call_id") or write.values.get("id")
        self.log.error("records_rejected", table=write.table, call=call, error=why, kept=str(self.spool.rejected_path))
        try:
            self.spool.reject(write.to_json(), why)
        except OSError as exc:
            self.status.lost += 1
            self.metrics.inc("records_lost")
            self.log.error("records_lost", why=f"rejected and not kept: {exc}", entries=1, calls=[call])

    def _commit(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        writes = self._rows(entries)
        if self.status.healthy:
            started = time.perf_counter()
            try:
                self._apply(writes)
            except (StoreError, RecordsKeyError) as exc:
                self._went_down(exc)
            else:
                self.status.committed += len(writes)
                self.metrics.inc("records_committed", len(writes))
                self.metrics.observe_ms("records_commit_ms", (time.perf_counter() - started) * 1000)
                if self.on_committed is not None:
                    self.on_committed(writes)
                return
        self._spool_or_lose(entries, "store unavailable", writes)

    def _spool_or_lose(self, entries: Sequence[Entry], why: str, writes: list[RowWrite] | None = None) -> None:
        writes = self._rows(entries) if writes is None else writes
        with self._overflow_lock:
            try:
                self.spool.append(writes)
            except OSError as exc:
                self.status.lost += len(entries)
                self.metrics.inc("records_lost", len(entries))
                self.log.error("records_lost", why=why, spool_error=str(exc), entries=len(entries),
                               calls=sorted({e.call_id for e in entries}))
                return
            self.status.spooled += len(writes)  # under the lock: write() and the thread both count here
        self.metrics.inc("records_spooled", len(writes))

    def _catch_up(self) -> None:
        """The queue overflowed into the spool and has drained since: store what spilled (it came
        after everything the queue held), then let write() use the queue again."""
        with self._overflow_lock:
            if self.status.healthy:
                try:
                    replayed = self.spool.replay(self._apply)
                except (StoreError, RecordsKeyError, ValueError, OSError) as exc:
                    self._went_down(exc)  # kept in the spool, replayed on recovery
                else:
                    self.status.replayed += replayed
            self._overflowing = False

    def _went_down(self, exc: Exception) -> None:
        self.status.healthy = False
        self.status.last_error = str(exc)
        self._next_try = time.monotonic() + self.retry_s
        self.metrics.inc("records_store_down")
        self.log.error("records_store_unavailable", error=str(exc), store=self.store.where, retry_s=self.retry_s,
                       spool=str(self.spool.path))

    def _recover(self) -> None:
        """Prepare the store (once), replay the spool, mark calls a previous crash cut off."""
        try:
            if not self._prepared:
                self.store.prepare(self.migrate)
                self._prepared = True
            with self._overflow_lock:  # write() may be appending to this file (queue full)
                replayed = self.spool.replay(self._apply)
            interrupted = self.store.mark_interrupted(self.host, self.worker, self.started_at)
        except (StoreError, RecordsKeyError, ValueError, OSError) as exc:  # OSError: a spool file it cannot read
            if self.status.healthy or self.status.last_error != str(exc):
                self._went_down(exc)
            self.status.healthy = False
            self._next_try = time.monotonic() + self.retry_s
            return
        was_down = self.status.last_error is not None
        self.status.healthy = True
        self.status.replayed += replayed
        if interrupted:
            self.status.interrupted.extend(interrupted)
            self.log.warning("records_calls_interrupted", calls=interrupted)
        if was_down or replayed:
            self.log.info("records_store_available", store=self.store.where, replayed=replayed)
        self.status.last_error = None


__all__ = ["RecordWriter", "WriterStatus"]
