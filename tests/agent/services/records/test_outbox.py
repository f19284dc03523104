"""The webhook outbox against a real SQLite file and a real HTTP receiver on 127.0.0.1 that can be
down (not listening), failing (503, 4xx) or up: every delivery arrives once per idempotency key,
retries back off with jitter, rejected and expired ones become work items, a restarted or a
second process picks up what is pending, and a store that goes away never stops the loop."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from structlog.testing import capture_logs

from agent.services.metrics import Metrics
from agent.services.records.config import OutboxConfig
from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.entries import ActionLogged, CallOpened, WebhookOrder
from agent.services.records.ids import delivery_id, gave_up_item_id
from agent.services.records.outbox import (
    OutboxState,
    WebhookOutbox,
    classify,
    outbox_counts,
    parse_retry_after,
    retry_delay,
)
from agent.services.records.rows import RowMaker, RowWrite
from agent.services.records.schema import webhook_outbox, work_items
from agent.services.records.store import RecordStore
from tests.processes import free_port

KEYS = KeyRing.of([new_key()], "test")
FAST = OutboxConfig(first_retry_s=0.1, max_retry_s=0.4, jitter=0.2, poll_s=0.05, lease_s=5.0)
SECRET_QUERY = "token=s3cret-in-query"
PATIENT = "Maria Lopez"


# ---- a real receiver ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    key: str
    body: dict[str, Any]
    status: int  # what the receiver answered
    user_agent: str
    content_type: str


class Receiver:
    """An HTTP server on a fixed 127.0.0.1 port: ``up(status)`` listens and answers ``status``;
    ``down()`` stops listening (connections are refused). ``gate`` holds answers until set."""

    def __init__(self) -> None:
        self.port = free_port(socket.SOCK_STREAM)
        self.url = f"http://127.0.0.1:{self.port}/hooks/bedside?{SECRET_QUERY}"
        self.status = 200
        self.retry_after: str | None = None
        self.delay_s = 0.0
        self.gate: threading.Event | None = None
        self.arrived = threading.Event()
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def up(self, status: int = 200) -> None:
        self.status = status
        if self._server is not None:
            return
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, retry_after = receiver.status, receiver.retry_after
                with receiver._lock:
                    receiver.hits.append(Hit(self.headers.get("Idempotency-Key", ""), body, status,
                                             self.headers.get("User-Agent", ""), self.headers.get("Content-Type", "")))
                receiver.arrived.set()
                if receiver.gate is not None:
                    receiver.gate.wait(10)
                time.sleep(receiver.delay_s)
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def delivered(self) -> Counter[str]:
        """Keys answered 2xx, with how often."""
        return Counter(h.key for h in self.snapshot() if 200 <= h.status < 300)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    if r.gate is not None:
        r.gate.set()
    r.down()


# ---- the store and its rows ------------------------------------------------------------------
@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    store = RecordStore(url, KEYS)
    store.migrate()
    store.dispose()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[RecordStore]:
    s = RecordStore(db_url, KEYS)
    yield s
    s.dispose()


def payload(call: str, seq: int) -> dict[str, Any]:
    return {"event": "appointment_booked", "call_id": call, "node": "booked",
            "slots": {"full_name": PATIENT, "appointment": f"2026-12-02T09:{seq % 60:02d}"}}


def order(store: RecordStore, url: str, n: int = 1, *, call: str = "in-1", first_seq: int = 1,
          at: datetime | None = None, expire_after: timedelta = timedelta(hours=1)) -> tuple[list[str], list[RowWrite]]:
    """Commit a call and ``n`` webhook actions, as the records writer would; returns their keys."""
    at = at or datetime.now(UTC)
    maker = RowMaker(KEYS, False, expire_after)
    writes = maker.rows(CallOpened(call, at, "test-host", 0, None, "sip:+15550100@clinic"))
    for seq in range(first_seq, first_seq + n):
        writes += maker.rows(ActionLogged(
            call, seq, at, "webhook", node="booked", target="appointment_booked", slots={"full_name": PATIENT},
            webhook=WebhookOrder(url, 2.0, payload(call, seq)),
        ))
    store.apply(writes)
    return [delivery_id(call, seq) for seq in range(first_seq, first_seq + n)], writes


def outbox_rows(store: RecordStore) -> dict[str, Any]:
    with store.reading() as conn:
        return {r.id: r for r in conn.execute(select(webhook_outbox))}


def gave_up_items(store: RecordStore) -> list[Any]:
    with store.reading() as conn:
        return list(conn.execute(select(work_items).where(work_items.c.kind == "webhook_failed")))


async def eventually(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``check`` (run in a thread: it may read the database) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def states(store: RecordStore, keys: list[str], state: OutboxState) -> bool:
    rows = outbox_rows(store)
    return all(rows[k].state == state for k in keys)


@pytest.fixture
async def outboxes() -> AsyncIterator[Callable[..., WebhookOutbox]]:
    """Start outboxes on the test's loop; every one is closed at the end."""
    made: list[WebhookOutbox] = []

    def make(store: RecordStore, config: OutboxConfig = FAST, **kw: Any) -> WebhookOutbox:
        outbox = WebhookOutbox(store, config, Metrics(), f"test-host:{len(made)}", **kw)
        outbox.start()
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        await outbox.aclose()


class Clock:
    """A clock the test moves (database times only: polling still runs in real time)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def no_phi_or_query(logs: list[dict[str, Any]]) -> None:
    text = json.dumps(logs, default=str)
    assert PATIENT not in text and "s3cret" not in text and "/hooks/bedside" not in text


# ---- tests -------------------------------------------------------------------------------------
def test_backoff_formula_and_classification() -> None:
    config = OutboxConfig(first_retry_s=2.0, max_retry_s=300.0, jitter=0.0)
    rng = random.Random(0)
    assert [retry_delay(config, n, rng) for n in (1, 2, 3, 8, 9, 40)] == [2.0, 4.0, 8.0, 256.0, 300.0, 300.0]
    assert retry_delay(config, 1, rng, retry_after_s=30.0) == 30.0
    assert retry_delay(config, 1, rng, retry_after_s=3600.0) == 300.0
    assert retry_delay(config, 3, rng, retry_after_s=1.0) == 8.0  # a smaller Retry-After does not shorten it
    assert classify(204) == (True, False)
    assert [classify(s)[1] for s in (400, 401, 404, 410, 422)] == [True] * 5
    assert [classify(s) for s in (408, 425, 429, 500, 503, 301)] == [(False, False)] * 6
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Mon, 05 Jan 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


async def test_delivered_once_with_key_and_decrypted_body_at_notify(store, receiver, outboxes) -> None:
    receiver.up(200)
    with capture_logs() as logs:
        outbox = outboxes(store, FAST.model_copy(update={"poll_s": 30.0}))  # only notify() can make it prompt
        await asyncio.sleep(0.2)  # the start-up round has found nothing
        (key,), writes = order(store, receiver.url)
        threading.Thread(target=outbox.committed, args=(writes,)).start()  # the writer thread's call
        await eventually(lambda: states(store, [key], OutboxState.DELIVERED), timeout=3.0, what="delivery")
        outbox.notify()
        await asyncio.sleep(0.3)
    hits = receiver.snapshot()
    assert [(h.key, h.body, h.status) for h in hits] == [(key, payload("in-1", 1), 200)]
    assert hits[0].user_agent == "Bedside-webhook/1" and hits[0].content_type == "application/json"
    row = outbox_rows(store)[key]
    assert (row.attempts, row.last_status, row.last_error, row.claimed_by, row.claimed_until) == (1, 200, None, None, None)
    assert row.delivered_at is not None
    assert outbox.metrics.counter("webhooks_delivered") == 1 and outbox.metrics.counter("webhook_failures") == 0
    sent = [e for e in logs if e["event"] == "webhook_delivered"]
    assert len(sent) == 1 and sent[0]["call_id"] == "in-1" and sent[0]["hook"] == "appointment_booked"
    assert sent[0]["attempt"] == 1 and sent[0]["status"] == 200 and isinstance(sent[0]["ms"], int)
    no_phi_or_query(logs)


@pytest.mark.parametrize("down_s", [1.0, pytest.param(30.0, marks=pytest.mark.slow)])
async def test_receiver_down_then_up_each_key_arrives_once(store, receiver, outboxes, down_s) -> None:
    config = FAST if down_s < 5 else FAST.model_copy(update={"max_retry_s": 2.0})
    keys, _ = order(store, receiver.url, 6)
    with capture_logs() as logs:
        outboxes(store, config)
        await asyncio.sleep(down_s)  # not listening: every attempt is refused
        rows = outbox_rows(store)
        assert all(rows[k].state == OutboxState.PENDING and rows[k].attempts >= 2 for k in keys)
        assert {rows[k].last_error for k in keys} == {"ConnectError"}
        receiver.up(503)  # listening, but failing
        await eventually(lambda: set(keys) <= {h.key for h in receiver.snapshot()}, what="every key tried on a 503")
        receiver.status = 200
        await eventually(lambda: states(store, keys, OutboxState.DELIVERED), what="every key delivered")
        await asyncio.sleep(0.3)  # nothing more goes out
    assert receiver.delivered() == Counter({k: 1 for k in keys})
    for key in keys:
        mine = [h for h in receiver.snapshot() if h.key == key]
        assert mine[-1].status == 200 and mine[-1].body == payload("in-1", keys.index(key) + 1)
    rows = outbox_rows(store)
    assert all(rows[k].attempts > 1 and rows[k].last_status == 200 for k in keys)
    assert not gave_up_items(store)
    assert any(e["event"] == "webhook_failed" and e.get("error") == "ConnectError" for e in logs)
    no_phi_or_query(logs)


async def test_backoff_doubles_with_seeded_jitter(store, receiver, outboxes) -> None:
    receiver.up(503)
    clock = Clock()
    config = OutboxConfig(first_retry_s=1.0, max_retry_s=5.0, jitter=0.25, poll_s=0.05)
    (key,), _ = order(store, receiver.url, at=clock.now)
    outbox = outboxes(store, config, clock=clock, rng=random.Random(1234))
    expected_rng = random.Random(1234)
    delays = []
    for attempt in range(1, 6):
        row = await eventually(lambda a=attempt: (r := outbox_rows(store)[key]).attempts == a and r.claimed_by is None
                               and r, what=f"attempt {attempt}")
        delay = (row.next_attempt_at - clock.now).total_seconds()
        nominal = min(5.0, 2.0 ** (attempt - 1))
        assert delay == pytest.approx(nominal * expected_rng.uniform(0.75, 1.25), abs=1e-5)
        assert abs(delay - nominal) > 1e-3  # jittered
        delays.append(delay)
        await asyncio.sleep(0.15)
        assert len(receiver.snapshot()) == attempt  # not due yet: nothing sent before next_attempt_at
        clock.now = row.next_attempt_at
        outbox.notify()
    assert delays[0] < delays[1] < delays[2] < delays[3]
    assert 5.0 * 0.75 <= delays[4] <= 5.0 * 1.25
    assert outbox.metrics.counter("webhook_failures") == 5


async def test_retry_after_is_honoured_up_to_max_retry(store, receiver, outboxes) -> None:
    receiver.up(429)
    receiver.retry_after = "3"
    clock = Clock()
    config = OutboxConfig(first_retry_s=1.0, max_retry_s=5.0, jitter=0.1, poll_s=0.05)
    (key,), _ = order(store, receiver.url, at=clock.now)
    outbox = outboxes(store, config, clock=clock)
    row = await eventually(lambda: (r := outbox_rows(store)[key]).attempts == 1 and r.claimed_by is None and r)
    assert (row.next_attempt_at - clock.now).total_seconds() == pytest.approx(3.0, abs=1e-5)
    assert (row.state, row.last_status) == (OutboxState.PENDING, 429)
    receiver.retry_after = "3600"
    clock.now = row.next_attempt_at
    outbox.notify()
    row = await eventually(lambda: (r := outbox_rows(store)[key]).attempts == 2 and r.claimed_by is None and r)
    assert (row.next_attempt_at - clock.now).total_seconds() == pytest.approx(5.0, abs=1e-5)


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_rejected_gives_up_at_once_with_one_work_item(store, receiver, outboxes, status) -> None:
    receiver.up(status)
    (key,), _ = order(store, receiver.url)
    with capture_logs() as logs:
        outbox = outboxes(store)
        await eventually(lambda: states(store, [key], OutboxState.EXPIRED), what="given up")
        await asyncio.sleep(0.2)
    assert len(receiver.snapshot()) == 1
    row = outbox_rows(store)[key]
    assert (row.attempts, row.last_status, row.claimed_by) == (1, status, None)
    items = gave_up_items(store)
    assert [(i.id, i.call_id, i.action_seq, i.team, i.priority, i.state) for i in items] == [
        (gave_up_item_id(key), "in-1", 1, "webhooks", "routine", "open")]
    assert items[0].reason == f"webhook appointment_booked not delivered after 1 attempt: HTTP {status}"
    assert outbox.metrics.counter("webhooks_gave_up") == 1 and outbox.metrics.counter("webhook_failures") == 1
    gave_up = [e for e in logs if e["event"] == "webhook_gave_up"]
    assert len(gave_up) == 1 and gave_up[0]["rejected"] is True
    no_phi_or_query(logs)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 503])
async def test_transient_statuses_are_retried(store, receiver, outboxes, status) -> None:
    receiver.up(status)
    (key,), _ = order(store, receiver.url)
    outboxes(store)
    await eventually(lambda: outbox_rows(store)[key].attempts >= 2, what="a second attempt")
    assert outbox_rows(store)[key].state == OutboxState.PENDING
    assert not gave_up_items(store)


async def test_expiry_gives_up_with_one_work_item(store, receiver, outboxes) -> None:
    receiver.up(503)
    (key,), _ = order(store, receiver.url, expire_after=timedelta(seconds=0.8))
    outbox = outboxes(store, FAST.model_copy(update={"max_retry_s": 0.2}))
    await eventually(lambda: states(store, [key], OutboxState.EXPIRED), what="expiry")
    await asyncio.sleep(0.3)
    row = outbox_rows(store)[key]
    assert row.attempts >= 2 and row.attempts == len(receiver.snapshot())
    assert row.next_attempt_at <= row.expires_at
    (item,) = gave_up_items(store)
    assert item.id == gave_up_item_id(key)
    assert item.reason == f"webhook appointment_booked not delivered after {row.attempts} attempts: HTTP 503"
    assert outbox.metrics.counter("webhooks_gave_up") == 1


async def test_already_expired_is_not_sent(store, receiver, outboxes) -> None:
    receiver.up(200)
    (key,), _ = order(store, receiver.url, at=datetime.now(UTC) - timedelta(hours=2))
    outboxes(store)
    await eventually(lambda: states(store, [key], OutboxState.EXPIRED), what="expiry")
    assert receiver.snapshot() == []
    (item,) = gave_up_items(store)
    assert item.reason == "webhook appointment_booked not delivered after 0 attempts: expired"


async def test_restart_delivers_what_the_first_left_including_a_dead_claim(db_url, receiver, outboxes) -> None:
    first_store = RecordStore(db_url, KEYS)
    keys, _ = order(first_store, receiver.url, 4)
    first = outboxes(first_store)
    await eventually(lambda: all(r.attempts >= 2 for r in outbox_rows(first_store).values()), what="failed attempts")
    await first.aclose()
    assert all(r.state == OutboxState.PENDING and r.claimed_by is None for r in outbox_rows(first_store).values())
    # a process that died holding a claim: its row waits for the lease to lapse
    (orphan,), _ = order(first_store, receiver.url, first_seq=5)
    lapse = datetime.now(UTC) + timedelta(seconds=1.5)
    with first_store.reading() as conn:
        conn.execute(update(webhook_outbox).where(webhook_outbox.c.id == orphan).values(
            claimed_by="dead-host:1/00000000", claimed_until=lapse))
    first_store.dispose()

    receiver.up(200)
    second_store = RecordStore(db_url, KEYS)
    try:
        outboxes(second_store)
        await eventually(lambda: states(second_store, keys, OutboxState.DELIVERED), what="the first's rows")
        await eventually(lambda: states(second_store, [orphan], OutboxState.DELIVERED), what="the orphan")
        assert outbox_rows(second_store)[orphan].delivered_at >= lapse  # not before the dead claim lapsed
        assert receiver.delivered() == Counter({k: 1 for k in [*keys, orphan]})
    finally:
        second_store.dispose()


async def test_close_hands_back_the_claims_of_unfinished_sends(store, receiver, outboxes) -> None:
    receiver.gate = threading.Event()  # the receiver never answers while the outbox runs
    receiver.up(200)
    (key,), _ = order(store, receiver.url)
    outbox = outboxes(store, close_grace_s=0.1)
    await asyncio.to_thread(receiver.arrived.wait, 5)
    assert outbox_rows(store)[key].claimed_by == outbox.claimant
    await outbox.aclose()
    row = outbox_rows(store)[key]
    assert (row.state, row.claimed_by, row.claimed_until) == (OutboxState.PENDING, None, None)
    receiver.gate.set()
    outboxes(store)  # the next process sends it at once, not after the lease
    await eventually(lambda: states(store, [key], OutboxState.DELIVERED), timeout=3.0, what="redelivery")


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db(request: pytest.FixtureRequest, db_url: str) -> str:
    if request.param == "sqlite":
        return db_url
    url = request.getfixturevalue("postgres_url")
    store = RecordStore(url, KEYS)
    store.migrate()
    store.dispose()
    return url


async def test_two_outboxes_never_send_a_key_twice(shared_db, receiver, outboxes) -> None:
    receiver.up(200)
    receiver.delay_s = 0.01
    stores = [RecordStore(shared_db, KEYS) for _ in range(2)]
    try:
        keys: list[str] = []
        for call in range(4):
            keys += order(stores[0], receiver.url, 20, call=f"in-{call}")[0]
        config = FAST.model_copy(update={"poll_s": 0.02})
        with capture_logs() as logs:
            a, b = outboxes(stores[0], config), outboxes(stores[1], config)
            await eventually(lambda: states(stores[0], keys, OutboxState.DELIVERED), timeout=20.0, what="all delivered")
            await asyncio.sleep(0.2)
        assert not [e for e in logs if e["log_level"] in ("warning", "error")]  # contention is no outage, no lost claim
        assert receiver.delivered() == Counter({k: 1 for k in keys})
        assert len(receiver.snapshot()) == len(keys)
        sent = a.metrics.counter("webhooks_delivered"), b.metrics.counter("webhooks_delivered")
        assert sum(sent) == len(keys) and min(sent) > 0, sent  # both took part
    finally:
        for s in stores:
            s.dispose()


async def test_store_down_then_back_no_exception_and_delivery_resumes(store, db_url, receiver, outboxes) -> None:
    receiver.gate = threading.Event()
    receiver.up(200)
    path = Path(db_url.removeprefix("sqlite:///"))
    aside = path.parent / "aside"
    aside.mkdir()
    (key,), _ = order(store, receiver.url)
    with capture_logs() as logs:
        outbox = outboxes(store)
        await asyncio.to_thread(receiver.arrived.wait, 5)  # the POST is in flight...
        store.engine.dispose()  # ...when the database file is replaced by garbage
        for f in path.parent.glob(path.name + "*"):
            shutil.move(f, aside / f.name)
        path.write_bytes(b"this is not a database, just garbage " * 200)
        receiver.gate.set()  # the receiver answers 200; the outcome cannot be recorded
        await asyncio.sleep(0.6)  # a dozen polls against the broken store
        assert outbox.running  # nothing escaped the loop
        down = [e for e in logs if e["event"] == "webhook_outbox_store_unavailable"]
        assert len(down) == 1 and "not a usable SQLite database" in down[0]["error"]
        store.engine.dispose()
        path.unlink()
        for f in aside.iterdir():
            shutil.move(f, path.parent / f.name)
        await eventually(lambda: states(store, [key], OutboxState.DELIVERED), what="the outcome recorded")
        (later,), writes = order(store, receiver.url, first_seq=2)
        outbox.committed(writes)
        await eventually(lambda: states(store, [later], OutboxState.DELIVERED), what="a new delivery")
    assert receiver.delivered() == Counter({key: 1, later: 1})  # the answered one was not sent again
    assert [e["event"] for e in logs].count("webhook_outbox_store_available") == 1
    assert outbox.metrics.counter("webhooks_delivered") == 2
    no_phi_or_query(logs)


def test_outbox_counts(store) -> None:
    assert outbox_counts(store) == {"pending": 0, "delivered": 0, "expired": 0}
    keys, _ = order(store, "http://127.0.0.1:9/hook", 4)
    with store.reading() as conn:
        conn.execute(update(webhook_outbox).where(webhook_outbox.c.id == keys[0]).values(state="delivered"))
        conn.execute(update(webhook_outbox).where(webhook_outbox.c.id.in_(keys[1:3])).values(state="expired"))
    assert outbox_counts(store) == {"pending": 1, "delivered": 1, "expired": 2}
