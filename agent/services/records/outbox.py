"""The webhook outbox: every webhook an action orders is delivered durably (docs/records.md, "Webhook outbox").

The records writer commits the delivery (``webhook_outbox``, state ``pending``) with the action
itself, so a webhook survives a crash, a restart and a receiver that is down. One
:class:`WebhookOutbox` per process sends due rows: it claims each with a lease (a conditional
UPDATE, so processes and machines sharing the database never send the same row at the same
time), POSTs the decrypted JSON with the row id as ``Idempotency-Key``, and records the outcome:
delivered; failed and retried later (exponential backoff with jitter, ``Retry-After`` honoured);
or given up — rejected by the receiver (a 4xx retrying cannot fix) or expired — which opens a
``webhook_failed`` work item in the same transaction, so staff see what never arrived.

Delivery is at least once: a process that dies after the receiver answered but before the
outcome is committed leaves the row to be sent again when its lease expires. Receivers
de-duplicate on the key. The payload (slot values: PHI) and the URL are never logged."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

import httpx2  # the HTTP client the openai package already brings
import structlog
from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from agent.services.metrics import Metrics
from agent.services.records.config import OutboxConfig
from agent.services.records.crypto import RecordsKeyError
from agent.services.records.ids import gave_up_item_id
from agent.services.records.rows import RowWrite, context, utc_now
from agent.services.records.schema import webhook_outbox, work_items
from agent.services.records.store import RecordStore, StoreError

USER_AGENT = "Bedside-webhook/1"  # the same as the direct sender's (agent/call/webhooks.py)
CONCURRENCY = 8  # deliveries in flight per process
LEASE_MARGIN_S = 5.0  # a lease always outlasts the request it covers by this much
RETRYABLE_4XX = frozenset({408, 425, 429})  # timeout, too early, too many requests: worth trying again
GAVE_UP_TEAM = "webhooks"

_table = webhook_outbox.c


class OutboxState(StrEnum):
    PENDING = "pending"  # to be sent (now or at next_attempt_at)
    DELIVERED = "delivered"  # the receiver answered 2xx
    EXPIRED = "expired"  # given up (rejected or too old); a webhook_failed work item is open


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row this process holds the lease on (read after claiming: ``attempts`` is current)."""

    id: str
    call_id: str
    action_seq: int
    event: str
    url: str
    timeout_s: float
    payload_enc: str
    attempts: int
    expires_at: datetime
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to. ``sent`` is False when the row expired before it was tried."""

    delivered: bool
    status: int | None = None
    error: str | None = None  # exception type name only: messages may quote the URL
    retry_after_s: float | None = None
    permanent: bool = False  # the receiver rejected it: retrying cannot help
    sent: bool = True
    ms: int = 0

    @property
    def what(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else (self.error or "expired")


def retry_delay(config: OutboxConfig, attempts: int, rng: random.Random, retry_after_s: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed attempts: ``min(max_retry_s, first_retry_s *
    2**(attempts-1))`` times a random factor in ``[1-jitter, 1+jitter]`` (so processes that failed
    together do not retry together); a larger ``Retry-After`` wins, capped at ``max_retry_s``."""
    nominal = min(config.max_retry_s, config.first_retry_s * 2.0 ** min(max(attempts - 1, 0), 62))
    delay = nominal * rng.uniform(1.0 - config.jitter, 1.0 + config.jitter)
    if retry_after_s is not None and retry_after_s > delay:
        delay = min(retry_after_s, config.max_retry_s)
    return delay


def classify(status: int) -> tuple[bool, bool]:
    """(delivered, permanent) for an HTTP status. Redirects are not followed and count as failures."""
    if 200 <= status < 300:
        return True, False
    return False, 400 <= status < 500 and status not in RETRYABLE_4XX


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return max(0.0, (when - now).total_seconds())


def gave_up_reason(event: str, attempts: int, what: str) -> str:
    plural = "" if attempts == 1 else "s"
    return f"webhook {event[:100]} not delivered after {attempts} attempt{plural}: {what}"[:200]


class WebhookOutbox:
    """Sends due ``webhook_outbox`` rows from the process's event loop; DB calls run in threads.

    ``owner`` names the process in ``claimed_by`` (e.g. ``host:pid``); a random suffix keeps two
    instances apart even if they share a name. ``clock`` gives the database times (tests move it)."""

    def __init__(
        self, store: RecordStore, config: OutboxConfig, metrics: Metrics, owner: str, clock: Callable[[], datetime] = utc_now,
        *, rng: random.Random | None = None, concurrency: int = CONCURRENCY, close_grace_s: float = 5.0,
    ) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics
        self.claimant = f"{owner[:91]}/{secrets.token_hex(4)}"  # claimed_by is 100 characters
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.concurrency = concurrency
        self.close_grace_s = close_grace_s
        self.log = structlog.get_logger(component="webhook_outbox")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx2.AsyncClient | None = None  # made in start(), on the loop
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._unrecorded: list[tuple[Claimed, Outcome]] = []  # answered while the store was down
        self._closing = False
        self._closed = False
        self._down: str | None = None  # the outage being reported (logged once)

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start sending, on the running loop; due rows left by earlier processes go first."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._client = httpx2.AsyncClient(headers={"User-Agent": USER_AGENT}, follow_redirects=False)
        self._task = self._loop.create_task(self._run(), name="webhook-outbox")

    async def aclose(self) -> None:
        """Stop claiming; let deliveries in flight finish (up to ``close_grace_s``), cancel the
        rest and hand their claims back so the next process sends them at once. Idempotent."""
        if self._closed:
            return
        self._closed = self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
        if self._inflight:
            inflight = dict(self._inflight)  # done callbacks empty _inflight as tasks end
            _done, late = await asyncio.wait(inflight.values(), timeout=self.close_grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            cancelled = [key for key, task in inflight.items() if task in late]
            if cancelled:
                with contextlib.suppress(StoreError):
                    await asyncio.to_thread(self._release, cancelled)
        if self._unrecorded:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self._flush)
        if self._client is not None:
            await self._client.aclose()

    @property
    def running(self) -> bool:
        """The sending loop is alive (for status and health checks)."""
        return self._task is not None and not self._task.done()

    def notify(self) -> None:
        """New rows were committed: look now rather than at the next poll. Any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or self._closing:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
            loop.call_soon_threadsafe(wake.set)

    def committed(self, writes: Sequence[RowWrite]) -> None:
        """``RecordWriter(on_committed=outbox.committed)``: notify when a batch held a webhook."""
        if any(w.table == "webhook_outbox" for w in writes):
            self.notify()

    # ---- the loop --------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            self._wake.clear()
            try:
                await self._round()
            except Exception as exc:  # never let one bad round stop deliveries
                self._store_down(type(exc).__name__)
            if self._closing:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_s)

    async def _round(self) -> None:
        """Record outcomes the store missed, then claim as many due rows as there is room for."""
        try:
            if self._unrecorded:
                await asyncio.to_thread(self._flush)
            free = self.concurrency - len(self._inflight)
            rows = await asyncio.to_thread(self._claim, free, set(self._inflight)) if free > 0 else []
        except StoreError as exc:
            self._store_down(str(exc))
            return
        self._store_up()
        for row in rows:
            task = asyncio.create_task(self._deliver(row), name=f"webhook-{row.id}")
            self._inflight[row.id] = task
            task.add_done_callback(lambda _t, key=row.id: self._finished(key))

    def _finished(self, key: str) -> None:
        self._inflight.pop(key, None)
        if self._wake is not None:
            self._wake.set()  # room for another: rows may be waiting

    def _store_down(self, why: str) -> None:
        if self._down is None:
            self.log.error("webhook_outbox_store_unavailable", error=why, store=self.store.where,
                           retry_s=self.config.poll_s)
        self._down = why

    def _store_up(self) -> None:
        if self._down is not None:
            self.log.info("webhook_outbox_store_available", store=self.store.where)
        self._down = None

    # ---- one delivery ----------------------------------------------------------------------
    async def _deliver(self, row: Claimed) -> None:
        try:
            if self.clock() >= row.expires_at:
                outcome = Outcome(False, row.last_status, row.last_error or "expired", sent=False)
            else:
                outcome = await self._send(row)
            try:
                await asyncio.to_thread(self._record, row, outcome)
            except StoreError as exc:
                self._unrecorded.append((row, outcome))
                self._store_down(str(exc))
        except Exception as exc:  # a bug must not take the loop down; the lease brings the row back
            self.log.error("webhook_outbox_error", call_id=row.call_id, delivery=row.id, error=type(exc).__name__)

    async def _send(self, row: Claimed) -> Outcome:
        try:
            body = self.store.keys.decrypt(row.payload_enc, context("webhook_outbox", row.id))
        except RecordsKeyError as exc:  # a key left out of the ring: retried, and given up in time
            return Outcome(False, error=type(exc).__name__)
        client = self._client
        assert client is not None
        headers = {"Idempotency-Key": row.id, "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(row.timeout_s):  # the whole request, not each read: the lease covers it
                response = await client.post(row.url, content=body.encode(), headers=headers, timeout=row.timeout_s)
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
            return Outcome(False, error=type(exc).__name__, permanent=True, ms=_ms(started))
        except (httpx2.HTTPError, TimeoutError, OSError) as exc:
            return Outcome(False, error=type(exc).__name__, ms=_ms(started))
        delivered, permanent = classify(response.status_code)
        retry_after = None if delivered else parse_retry_after(response.headers.get("Retry-After"), self.clock())
        return Outcome(delivered, response.status_code, retry_after_s=retry_after, permanent=permanent, ms=_ms(started))

    def _record(self, row: Claimed, outcome: Outcome) -> None:
        """Commit one outcome (blocking), then count and log it."""
        now = self.clock()
        attempt = row.attempts + (1 if outcome.sent else 0)
        fields = {"call_id": row.call_id, "hook": row.event, "delivery": row.id, "attempt": attempt, "ms": outcome.ms}
        result = {"status": outcome.status} if outcome.status is not None else {"error": outcome.error}
        if outcome.delivered:
            with self.store.reading() as conn:
                conn.execute(update(webhook_outbox).where(_table.id == row.id, _table.state == OutboxState.PENDING).values(
                    state=OutboxState.DELIVERED, delivered_at=now, attempts=_table.attempts + 1,
                    last_status=outcome.status, last_error=None, claimed_by=None, claimed_until=None,
                ))
            self.metrics.inc("webhooks_delivered")
            self.metrics.observe_ms("webhook_ms", outcome.ms)
            self.log.info("webhook_delivered", **fields, **result)
            return
        if not outcome.permanent and now < row.expires_at:
            delay = retry_delay(self.config, attempt, self.rng, outcome.retry_after_s)
            due = min(now + timedelta(seconds=delay), row.expires_at)
            kept = self._finish(row, OutboxState.PENDING, outcome, {"next_attempt_at": due})
            self.metrics.inc("webhook_failures")  # counted once committed: a replayed outcome is not counted twice
            if kept:
                self.log.warning("webhook_failed", **fields, **result, retry_in_s=round((due - now).total_seconds(), 3))
            return
        item = gave_up_item_id(row.id)
        kept = self._finish(row, OutboxState.EXPIRED, outcome, {}, work_item={
            "id": item, "call_id": row.call_id, "action_seq": row.action_seq, "kind": "webhook_failed",
            "team": GAVE_UP_TEAM, "priority": "routine", "reason": gave_up_reason(row.event, attempt, outcome.what),
            "state": "open", "created_at": now,
        })
        if outcome.sent:
            self.metrics.inc("webhook_failures")
        if kept:
            self.metrics.inc("webhooks_gave_up")
            self.log.error("webhook_gave_up", **fields, **result, rejected=outcome.permanent, work_item=item)

    def _finish(self, row: Claimed, state: OutboxState, outcome: Outcome, extra: dict[str, object],
                work_item: dict[str, object] | None = None) -> bool:
        """Record a failed attempt under our claim; False (and nothing written) if the claim was lost."""
        values: dict[str, object] = {"state": state, "claimed_by": None, "claimed_until": None, **extra}
        if outcome.sent:
            values.update(attempts=_table.attempts + 1, last_status=outcome.status, last_error=outcome.error)
        with self.store.reading() as conn:
            mine = and_(_table.id == row.id, _table.state == OutboxState.PENDING, _table.claimed_by == self.claimant)
            if conn.execute(update(webhook_outbox).where(mine).values(values)).rowcount != 1:
                self.log.warning("webhook_claim_lost", call_id=row.call_id, delivery=row.id)
                return False
            if work_item is not None:
                self.store.insert_absent(conn, work_items, [work_item])
        return True

    # ---- claiming (blocking, in a worker thread) ---------------------------------------------
    def _claim(self, limit: int, skip: Iterable[str]) -> list[Claimed]:
        """Lease up to ``limit`` due rows. Each claim is a conditional UPDATE that matches only
        an unclaimed (or lapsed) due row: of two processes racing for one, one updates it."""
        now = self.clock()

        def due() -> ColumnElement[bool]:
            return and_(_table.state == OutboxState.PENDING, _table.next_attempt_at <= now,
                        or_(_table.claimed_until.is_(None), _table.claimed_until < now))

        query = select(_table.id, _table.timeout_s).where(due()).order_by(_table.next_attempt_at).limit(limit)
        skipped = list(skip)  # in flight here already (their lease is ours)
        if skipped:
            query = query.where(_table.id.notin_(skipped))
        with self.store.reading() as conn:
            candidates = conn.execute(query).all()
            won: list[str] = []
            for key, timeout_s in candidates:
                until = now + timedelta(seconds=max(self.config.lease_s, timeout_s + LEASE_MARGIN_S))
                claim = update(webhook_outbox).where(_table.id == key, due()).values(
                    claimed_by=self.claimant, claimed_until=until)
                if conn.execute(claim).rowcount == 1:
                    won.append(key)
            if not won:
                return []
            rows = conn.execute(select(
                _table.id, _table.call_id, _table.action_seq, _table.event, _table.url, _table.timeout_s,
                _table.payload_enc, _table.attempts, _table.expires_at, _table.last_status, _table.last_error,
            ).where(_table.id.in_(won)).order_by(_table.next_attempt_at)).all()
        return [Claimed(*r) for r in rows]

    def _flush(self) -> None:
        """Record outcomes that arrived while the store was down (oldest first)."""
        while self._unrecorded:
            row, outcome = self._unrecorded[0]
            self._record(row, outcome)
            self._unrecorded.pop(0)

    def _release(self, keys: Sequence[str]) -> None:
        with self.store.reading() as conn:
            conn.execute(update(webhook_outbox).where(
                _table.id.in_(keys), _table.claimed_by == self.claimant, _table.state == OutboxState.PENDING,
            ).values(claimed_by=None, claimed_until=None))


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def outbox_counts(store: RecordStore) -> dict[str, int]:
    """Deliveries per state, every state present (``bedside records status``). Blocking."""
    with store.reading() as conn:
        return _counts(conn)


def _counts(conn: Connection) -> dict[str, int]:
    counts = {state.value: 0 for state in OutboxState}
    for state, n in conn.execute(select(_table.state, func.count()).group_by(_table.state)):
        counts[state] = n
    return counts


__all__ = [
    "Claimed", "OutboxState", "Outcome", "WebhookOutbox", "classify", "gave_up_reason", "outbox_counts",
    "parse_retry_after", "retry_delay",
]
