"""What staff read and do with the records: the call list, one call in full, the worklist, exports,
the audit log, purging past retention and re-encrypting under a new key.

Blocking functions over a :class:`RecordStore` for ``bedside records`` and the records HTTP API
(agent/app). Every list is a page (keyset cursor, newest or oldest first) read through an index,
so a worklist query costs the same with 100 calls stored as with 100,000. PHI is decrypted only in
what staff act on — the caller's number and the call-back slots in :func:`show_call` and
:func:`work_items`, transcripts in :func:`show_call` — never in lists or exports. Callers audit
(:func:`audit`): a query does not know who is reading."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, Connection, Row, and_, case, delete, exists, func, or_, select, update

from agent.services.records import schema
from agent.services.records.crypto import PREFIX, KeyRing
from agent.services.records.rows import context, utc_now
from agent.services.records.store import RecordStore

MAX_LIMIT = 1000  # one page at most; more means paging
BATCH = 500  # rows per transaction in exports, purges and rekeys: short locks, bounded memory
AUDIT_RETENTION_DAYS = 2192  # 6 years (HIPAA keeps documentation of access 6 years, 45 CFR 164.316(b)(2))
NO_BURST = "none"  # emotion.models.burst.NONE: a segment without a burst
# How a call ended, by its final fused valence: below NEGATIVE_VALENCE is the line the call runtime
# itself counts as negative (agent/call/call_phase.py, CallPhaseConfig.negative_valence's default;
# this layer may not import agent.call, so a test keeps the two equal), above POSITIVE_VALENCE its
# mirror, neutral in between. A call with no final reading is none of the three.
NEGATIVE_VALENCE = -0.15
POSITIVE_VALENCE = 0.15
Emotion = Literal["negative", "neutral", "positive"]
EMOTIONS: tuple[Emotion, ...] = ("negative", "neutral", "positive")


class WorkState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class QueryError(Exception):
    """A request the records cannot answer as asked (bad cursor, bad date, bad name)."""


class NotFound(QueryError):
    """No call or work item with that id (it may have been purged)."""


class ItemClosed(QueryError):
    """The work item was already done or cancelled: closing it again would hide who did it."""


# ---- results -------------------------------------------------------------------------------


@cache
def _adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


class _Json:
    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, exactly as the HTTP API sends it (the same pydantic serialisation)."""
        return _adapter(type(self)).dump_python(self, mode="json")


@dataclass(frozen=True)
class CallSummary(_Json):
    """One call in the list: no PHI (the caller's number is in the call's detail and the worklist)."""

    id: str
    started_at: datetime
    ended_at: datetime | None
    status: str  # active, ended, interrupted
    end_reason: str | None
    turns: int
    urgent: bool
    handed_off: bool
    graph_version: str | None
    open_items: int  # open work items: someone still has to act on this call


@dataclass(frozen=True)
class CallPage(_Json):
    """Newest first; ``next_cursor`` fetches the older calls after these (null: no more)."""

    calls: tuple[CallSummary, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class Reply(_Json):
    """A line the agent said: where in the graph, and how (the expression and why it was chosen)."""

    seq: int
    at_s: float
    label: str
    turn: int | None
    node: str | None
    expression: str
    expression_why: str


@dataclass(frozen=True)
class TurnTiming(_Json):
    turn: int
    speech_s: float
    vad_ms: int | None
    transcript_ms: int | None
    reply_ready_ms: int | None
    first_audio_ms: int | None


@dataclass(frozen=True)
class Action(_Json):
    """A decided action with the slot values it carries (PHI, decrypted)."""

    seq: int
    decided_at: datetime
    kind: str  # callback, webhook, transfer, urgency, end_call
    node: str | None
    target: str | None
    priority: str | None
    reason: str | None
    slots: dict[str, str]


@dataclass(frozen=True)
class WorkItem(_Json):
    """Something staff must do for a caller (a call-back, a transfer nobody answered, a webhook
    that gave up), with the caller's number and the call-back slots (PHI, decrypted): what staff
    need to act on it."""

    id: str
    call_id: str
    kind: str  # callback, unanswered_transfer, webhook_failed
    team: str
    priority: str
    reason: str
    state: WorkState
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    caller: str | None
    slots: dict[str, str]


@dataclass(frozen=True)
class WorkItemPage(_Json):
    """Open items oldest first (the queue); all items newest first. ``next_cursor``: the next page."""

    items: tuple[WorkItem, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class Delivery(_Json):
    """A webhook in the outbox: its state, not its payload. ``destination`` has no query string
    or credentials (they may hold secrets)."""

    id: str
    action_seq: int
    event: str
    destination: str
    state: str  # pending, delivered, expired
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True)
class EmotionState(_Json):
    seq: int
    at_s: float
    valence: float
    arousal: float
    trend: str
    coherence: float
    available: bool
    burst: str | None


@dataclass(frozen=True)
class EmotionScore(_Json):
    name: str
    score: float


@dataclass(frozen=True)
class Utterance(_Json):
    seq: int
    at_s: float
    valence: float
    arousal: float
    top_emotions: tuple[EmotionScore, ...]


@dataclass(frozen=True)
class Burst(_Json):
    """A segment with a non-verbal burst (a sigh, a laugh, crying)."""

    seq: int
    begin_s: float
    end_s: float
    burst: str
    score: float


@dataclass(frozen=True)
class EmotionTimeline(_Json):
    """How the caller sounded (never what they said): states as announced, scored utterances,
    and the bursts among the scored segments."""

    segments: int
    bursts: tuple[Burst, ...]
    states: tuple[EmotionState, ...]
    utterances: tuple[Utterance, ...]
    final_valence: float | None
    final_arousal: float | None
    final_trend: str | None


@dataclass(frozen=True)
class TranscriptLine(_Json):
    """What the caller said (PHI, decrypted); kept only with records.keep_transcripts."""

    seq: int
    at_s: float
    text: str


@dataclass(frozen=True)
class CallDetail(CallSummary):
    """Everything kept about one call, PHI decrypted."""

    caller: str | None = None
    host: str = ""
    worker: int = 0
    barge_ins: int = 0
    reprompts: int = 0
    replies: tuple[Reply, ...] = ()
    timings: tuple[TurnTiming, ...] = ()
    actions: tuple[Action, ...] = ()
    work_items: tuple[WorkItem, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    emotion: EmotionTimeline | None = None
    transcripts: tuple[TranscriptLine, ...] = ()


@dataclass(frozen=True)
class AuditEntry(_Json):
    id: int
    at: datetime
    actor: str
    via: str  # cli, api
    what: str
    call_id: str | None
    detail: str | None


@dataclass(frozen=True)
class PurgeResult(_Json):
    """What ``purge`` removed (or, dry run, would remove)."""

    calls_before: datetime
    audit_before: datetime
    calls: int
    open_items: int  # open work items that went with their calls: nobody acted on them in time
    audit_rows: int
    dry_run: bool = False


@dataclass(frozen=True)
class StoreCounts(_Json):
    calls: int
    active_calls: int
    open_items: int
    audit_rows: int
    outbox: dict[str, int] = field(default_factory=dict)  # state -> deliveries


# ---- dates and cursors ---------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """``7d``/``12h``/``30m``/``2w`` ago, a date (midnight, local time), or an ISO datetime (local
    time unless it has an offset) -> aware UTC. Staff type dates in the clinic's time."""
    match = _RELATIVE.match(text)
    if match:
        return (now or utc_now()) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"{text!r}: not a date (2026-12-01, 2026-12-01T08:00, or 7d / 12h / 30m / 2w ago)") from None
    if when.tzinfo is None:
        when = when.astimezone()  # naive: the machine's local time
    return when.astimezone(UTC)


def _cursor(at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), key]).encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at).astimezone(UTC), str(key)
    except (ValueError, TypeError) as exc:
        raise QueryError("not a cursor this API gave out") from exc


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit {limit}: between 1 and {MAX_LIMIT}")
    return limit


def _after(at_col: Any, key_col: Any, cursor: str | None, newest_first: bool) -> list[ColumnElement[bool]]:
    """Keyset paging on (time, id): the time term alone can use the index."""
    if cursor is None:
        return []
    at, key = _uncursor(cursor)
    if newest_first:
        return [at_col <= at, or_(at_col < at, key_col < key)]
    return [at_col >= at, or_(at_col > at, key_col > key)]


# ---- decryption ----------------------------------------------------------------------------


def _caller(keys: KeyRing, call_id: str, token: str | None) -> str | None:
    return None if token is None else keys.decrypt(token, context("calls", call_id))


def _slots(keys: KeyRing, call_id: str, seq: int | None, token: str | None) -> dict[str, str]:
    if token is None or seq is None:
        return {}
    return dict(json.loads(keys.decrypt(token, context("actions", call_id, seq))))


# ---- calls ---------------------------------------------------------------------------------


def _open_counts(conn: Connection, call_ids: Sequence[str]) -> dict[str, int]:
    w = schema.work_items
    if not call_ids:
        return {}
    rows = conn.execute(select(w.c.call_id, func.count()).where(w.c.state == WorkState.OPEN, w.c.call_id.in_(call_ids))
                        .group_by(w.c.call_id))
    return {call_id: n for call_id, n in rows}


def _summary(row: Row[Any], open_items: int) -> CallSummary:
    return CallSummary(row.id, row.started_at, row.ended_at, row.status, row.end_reason, row.turns, row.urgent,
                       row.handed_off, row.graph_version, open_items)


def _emotion_term(valence: Any, emotion: str) -> ColumnElement[bool]:
    """The final valence's band (NEGATIVE_VALENCE / POSITIVE_VALENCE); NULL (no reading) is in none."""
    if emotion == "negative":
        return valence < NEGATIVE_VALENCE
    if emotion == "positive":
        return valence > POSITIVE_VALENCE
    if emotion == "neutral":
        return and_(valence >= NEGATIVE_VALENCE, valence <= POSITIVE_VALENCE)
    raise QueryError(f"emotion {emotion!r}: one of {', '.join(EMOTIONS)}")


def list_calls(
    store: RecordStore, since: datetime | None = None, until: datetime | None = None, urgent: bool | None = None,
    limit: int = 100, cursor: str | None = None, *, transferred: bool | None = None, node: str | None = None,
    emotion: Emotion | None = None, burst: str | None = None,
) -> CallPage:
    """Calls started in [since, until), newest first, a page at a time (ix_calls_started_at).

    ``transferred``: handed to a person or not; ``node``: the agent replied from that graph node at
    least once; ``emotion``: the final valence's band; ``burst``: at least one scored segment had
    that burst. The node and burst terms are EXISTS probes correlated on call_id, which lead both
    child tables' keys (pk_replies, uq_emotion_segments_call_seq): the walk stays the started_at
    index's, each call costs one index probe, and the cursor pages as without filters."""
    c, r, seg = schema.calls, schema.replies, schema.emotion_segments
    where: list[ColumnElement[bool]] = _after(c.c.started_at, c.c.id, cursor, newest_first=True)
    if since is not None:
        where.append(c.c.started_at >= since)
    if until is not None:
        where.append(c.c.started_at < until)
    if urgent is not None:
        where.append(c.c.urgent == urgent)
    if transferred is not None:
        where.append(c.c.handed_off == transferred)
    if emotion is not None:
        where.append(_emotion_term(c.c.final_valence, emotion))
    if node is not None:
        where.append(exists().where(r.c.call_id == c.c.id, r.c.node == node))
    if burst is not None:
        if burst == NO_BURST:
            raise QueryError(f"burst {NO_BURST!r} marks a segment without one: name a burst (sigh, laugh, cry, ...)")
        where.append(exists().where(seg.c.call_id == c.c.id, seg.c.burst == burst))
    query = select(c).where(*where).order_by(c.c.started_at.desc(), c.c.id.desc()).limit(_limit(limit) + 1)
    with store.reading() as conn:
        rows = conn.execute(query).all()
        page = rows[:limit]
        counts = _open_counts(conn, [r.id for r in page])
    calls = tuple(_summary(r, counts.get(r.id, 0)) for r in page)
    more = len(rows) > limit
    return CallPage(calls, _cursor(page[-1].started_at, page[-1].id) if more else None)


def known_nodes(store: RecordStore) -> list[str]:
    """Every graph node the agent has replied from, sorted: the call list's node filter offers
    these (a node of an older graph version still finds its calls)."""
    r = schema.replies
    with store.reading() as conn:
        return list(conn.execute(select(r.c.node).where(r.c.node.is_not(None)).distinct().order_by(r.c.node)).scalars())


@dataclass(frozen=True)
class LiveNodes:
    """Where the calls in progress are: the node each one's latest reply came from."""

    calls: int  # calls in progress (status active)
    nodes: dict[str, int]  # node -> calls whose latest reply came from it (no reply yet: not counted)


def live_nodes(store: RecordStore) -> LiveNodes:
    """The graph page's live view, from the records every server writes as it goes (no PHI)."""
    c, r = schema.calls, schema.replies
    latest = (select(r.c.call_id, func.max(r.c.seq).label("seq")).join(c, c.c.id == r.c.call_id)
              .where(c.c.status == "active").group_by(r.c.call_id).subquery())
    with store.reading() as conn:
        active = conn.execute(select(func.count()).select_from(c).where(c.c.status == "active")).scalar_one()
        rows = conn.execute(select(r.c.node, func.count()).join(latest, and_(r.c.call_id == latest.c.call_id,
                                                                              r.c.seq == latest.c.seq))
                            .where(r.c.node.is_not(None)).group_by(r.c.node)).all()
    return LiveNodes(int(active), {node: int(n) for node, n in rows})


def show_call(store: RecordStore, call_id: str) -> CallDetail | None:
    """The whole record of one call, PHI decrypted; None when there is no such call."""
    s, keys = schema, store.keys
    with store.reading() as conn:
        call = conn.execute(select(s.calls).where(s.calls.c.id == call_id)).first()
        if call is None:
            return None

        def rows(table: Any, *order: Any) -> list[Row[Any]]:
            return list(conn.execute(select(table).where(table.c.call_id == call_id).order_by(*order)))

        replies = rows(s.replies, s.replies.c.seq)
        timings = rows(s.turn_timings, s.turn_timings.c.turn)
        actions = rows(s.actions, s.actions.c.seq)
        items = rows(s.work_items, s.work_items.c.created_at, s.work_items.c.id)
        deliveries = rows(s.webhook_outbox, s.webhook_outbox.c.created_at, s.webhook_outbox.c.id)
        states = rows(s.emotion_states, s.emotion_states.c.seq)
        utterances = rows(s.emotion_utterances, s.emotion_utterances.c.seq)
        seg = s.emotion_segments
        segments = conn.execute(select(func.count()).select_from(seg).where(seg.c.call_id == call_id)).scalar_one()
        bursts = conn.execute(select(seg.c.seq, seg.c.begin_s, seg.c.end_s, seg.c.burst, seg.c.burst_score)
                              .where(seg.c.call_id == call_id, seg.c.burst != NO_BURST).order_by(seg.c.seq)).all()
        transcripts = rows(s.transcripts, s.transcripts.c.seq)

    caller = _caller(keys, call_id, call.caller_enc)
    decided = tuple(Action(a.seq, a.decided_at, a.kind, a.node, a.target, a.priority, a.reason,
                           _slots(keys, call_id, a.seq, a.slots_enc)) for a in actions)
    slots_of = {a.seq: a.slots for a in decided}
    open_items = sum(1 for i in items if i.state == WorkState.OPEN)
    return CallDetail(
        **vars(_summary(call, open_items)),
        caller=caller, host=call.host, worker=call.worker, barge_ins=call.barge_ins, reprompts=call.reprompts,
        replies=tuple(Reply(r.seq, r.at_s, r.label, r.turn, r.node, r.expression, r.expression_why) for r in replies),
        timings=tuple(TurnTiming(t.turn, t.speech_s, t.vad_ms, t.transcript_ms, t.reply_ready_ms, t.first_audio_ms)
                      for t in timings),
        actions=decided,
        work_items=tuple(_item(i, caller, slots_of.get(i.action_seq, {})) for i in items),
        deliveries=tuple(Delivery(d.id, d.action_seq, d.event, _destination(d.url), d.state, d.attempts, d.last_status,
                                  d.last_error, d.created_at, d.delivered_at, d.expires_at) for d in deliveries),
        emotion=EmotionTimeline(
            segments=segments,
            bursts=tuple(Burst(b.seq, b.begin_s, b.end_s, b.burst, b.burst_score) for b in bursts),
            states=tuple(EmotionState(e.seq, e.at_s, e.valence, e.arousal, e.trend, e.coherence, e.available, e.burst)
                         for e in states),
            utterances=tuple(Utterance(u.seq, u.at_s, u.valence, u.arousal,
                                       tuple(EmotionScore(str(n), float(v)) for n, v in u.top_emotions))
                             for u in utterances),
            final_valence=call.final_valence, final_arousal=call.final_arousal, final_trend=call.final_trend,
        ),
        transcripts=tuple(TranscriptLine(t.seq, t.at_s, keys.decrypt(t.text_enc, context("transcripts", call_id, t.seq)))
                          for t in transcripts),
    )


def _destination(url: str) -> str:
    """Where a webhook goes, without credentials or query (tokens often ride there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", "")) if parts.port is None else \
        urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", ""))


# ---- the worklist --------------------------------------------------------------------------


def _item(row: Any, caller: str | None, slots: dict[str, str]) -> WorkItem:
    return WorkItem(row.id, row.call_id, row.kind, row.team, row.priority, row.reason, WorkState(row.state),
                    row.created_at, row.closed_at, row.closed_by, caller, slots)


def _items_query() -> Any:
    w, c, a = schema.work_items, schema.calls, schema.actions
    return (select(w, c.c.caller_enc, a.c.slots_enc)
            .join(c, c.c.id == w.c.call_id)
            .outerjoin(a, and_(a.c.call_id == w.c.call_id, a.c.seq == w.c.action_seq)))


def _decrypted(keys: KeyRing, row: Any) -> WorkItem:
    return _item(row, _caller(keys, row.call_id, row.caller_enc), _slots(keys, row.call_id, row.action_seq, row.slots_enc))


def work_items(store: RecordStore, open_only: bool = True, limit: int = 100, cursor: str | None = None) -> WorkItemPage:
    """The worklist: open items oldest first, or every item newest first. Each state is read
    through ix_work_items_state_created (one query per state, merged): never a table scan."""
    w = schema.work_items
    newest_first = not open_only
    order = (w.c.created_at.desc(), w.c.id.desc()) if newest_first else (w.c.created_at, w.c.id)
    rows: list[Row[Any]] = []
    with store.reading() as conn:
        for state in [WorkState.OPEN] if open_only else list(WorkState):
            where = [w.c.state == state, *_after(w.c.created_at, w.c.id, cursor, newest_first)]
            rows += conn.execute(_items_query().where(*where).order_by(*order).limit(_limit(limit) + 1)).all()
    rows.sort(key=lambda r: (r.created_at, r.id), reverse=newest_first)
    page = rows[:limit]
    items = tuple(_decrypted(store.keys, r) for r in page)
    more = len(rows) > limit
    return WorkItemPage(items, _cursor(page[-1].created_at, page[-1].id) if more else None)


def work_item(store: RecordStore, item_id: str) -> WorkItem:
    with store.reading() as conn:
        row = conn.execute(_items_query().where(schema.work_items.c.id == item_id)).first()
    if row is None:
        raise NotFound(f"no work item {item_id}")
    return _decrypted(store.keys, row)


def resolve_item(store: RecordStore, prefix: str) -> str:
    """The one work item id starting with ``prefix`` (staff type the first 8 characters)."""
    w = schema.work_items
    prefix = prefix.strip().lower()
    if len(prefix) < 4:
        raise QueryError(f"{prefix!r}: give at least 4 characters of the item id")
    with store.reading() as conn:  # a range on the primary key, not LIKE: the index serves it
        ids = list(conn.execute(select(w.c.id).where(w.c.id >= prefix, w.c.id < prefix + "\uffff").limit(2)).scalars())
    if not ids:
        raise NotFound(f"no work item {prefix}")
    if len(ids) > 1:
        raise QueryError(f"{prefix}: more than one work item starts so; give more of its id")
    return ids[0]


def close_item(store: RecordStore, item_id: str, by: str, state: WorkState = WorkState.DONE) -> WorkItem:
    """Open -> done or cancelled, once: ``by`` and the time stay on the item for good."""
    if state is WorkState.OPEN:
        raise QueryError("an item is closed as done or cancelled")
    by = _name(by)
    w = schema.work_items
    with store.reading() as conn:
        changed = conn.execute(update(w).where(w.c.id == item_id, w.c.state == WorkState.OPEN)
                               .values(state=state.value, closed_at=utc_now(), closed_by=by)).rowcount
        if not changed:
            row = conn.execute(select(w.c.state, w.c.closed_by, w.c.closed_at).where(w.c.id == item_id)).first()
            if row is None:
                raise NotFound(f"no work item {item_id}")
            when = row.closed_at.isoformat(timespec="seconds") if row.closed_at else "?"
            raise ItemClosed(f"work item {item_id} is already {row.state} (by {row.closed_by or '?'} at {when})")
    return work_item(store, item_id)


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise QueryError("a staff name is 1 to 100 characters")
    return name


# ---- export --------------------------------------------------------------------------------

EXPORT_FIELDS = (
    "id", "started_at", "ended_at", "duration_s", "status", "end_reason", "host", "worker", "graph_version", "turns",
    "barge_ins", "reprompts", "urgent", "handed_off", "final_valence", "final_arousal", "final_trend", "actions",
    "work_items", "open_items",
)


def export_calls(store: RecordStore, since: datetime, until: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every call started in [since, until), oldest first, as flat rows (EXPORT_FIELDS) for JSON
    lines or CSV. Read :data:`BATCH` calls per transaction, so an export of a year neither holds
    the database nor memory. No PHI: the caller's number, slots and words stay in the store."""
    c, a, w = schema.calls, schema.actions, schema.work_items
    cursor: str | None = None
    while True:
        where = [c.c.started_at >= since, *_after(c.c.started_at, c.c.id, cursor, newest_first=False)]
        if until is not None:
            where.append(c.c.started_at < until)
        with store.reading() as conn:
            rows = conn.execute(select(c).where(*where).order_by(c.c.started_at, c.c.id).limit(BATCH)).all()
            ids = [r.id for r in rows]
            kinds: dict[str, list[str]] = {}
            for call_id, kind in conn.execute(select(a.c.call_id, a.c.kind).where(a.c.call_id.in_(ids)).order_by(a.c.call_id, a.c.seq)):
                kinds.setdefault(call_id, []).append(kind)
            items: dict[str, tuple[int, int]] = {}
            for call_id, total, still_open in conn.execute(
                select(w.c.call_id, func.count(), func.sum(case((w.c.state == WorkState.OPEN, 1), else_=0)))
                .where(w.c.call_id.in_(ids)).group_by(w.c.call_id)
            ):
                items[call_id] = (total, int(still_open or 0))
        for r in rows:
            total, still_open = items.get(r.id, (0, 0))
            yield {
                "id": r.id, "started_at": _iso(r.started_at), "ended_at": _iso(r.ended_at),
                "duration_s": round((r.ended_at - r.started_at).total_seconds(), 1) if r.ended_at else None,
                "status": r.status, "end_reason": r.end_reason, "host": r.host, "worker": r.worker,
                "graph_version": r.graph_version, "turns": r.turns, "barge_ins": r.barge_ins, "reprompts": r.reprompts,
                "urgent": r.urgent, "handed_off": r.handed_off, "final_valence": r.final_valence,
                "final_arousal": r.final_arousal, "final_trend": r.final_trend, "actions": " ".join(kinds.get(r.id, [])),
                "work_items": total, "open_items": still_open,
            }
        if len(rows) < BATCH:
            return
        cursor = _cursor(rows[-1].started_at, rows[-1].id)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


# ---- audit ---------------------------------------------------------------------------------


class Via(StrEnum):
    CLI = "cli"
    API = "api"
    CONSOLE = "console"


def audit(store: RecordStore, actor: str, via: Via | str, what: str, call_id: str | None = None,
          detail: str | None = None) -> None:
    """One row per read or change: who, when, how, what, which call. Written before the answer is
    shown: a read that cannot be audited is not shown."""
    with store.reading() as conn:
        conn.execute(schema.audit_log.insert().values(
            at=utc_now(), actor=_name(actor)[:100], via=str(via)[:16], what=what[:32], call_id=call_id,
            detail=None if detail is None else detail[:200],
        ))


def audit_entries(store: RecordStore, since: datetime | None = None, call_id: str | None = None,
                  actor: str | None = None, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
    """Newest first; page with ``before_id`` = the last entry's id."""
    log = schema.audit_log
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(log.c.at >= since)
    if call_id is not None:
        where.append(log.c.call_id == call_id)
    if actor is not None:
        where.append(log.c.actor == actor)
    if before_id is not None:
        where.append(log.c.id < before_id)
    with store.reading() as conn:
        rows = conn.execute(select(log).where(*where).order_by(log.c.id.desc()).limit(_limit(limit))).all()
    return [AuditEntry(r.id, r.at, r.actor, r.via, r.what, r.call_id, r.detail) for r in rows]


# ---- counts, purge, rekey ------------------------------------------------------------------


def counts(store: RecordStore) -> StoreCounts:
    c, w, o = schema.calls, schema.work_items, schema.webhook_outbox
    with store.reading() as conn:
        def one(query: Any) -> int:
            return int(conn.execute(query).scalar_one())

        return StoreCounts(
            calls=one(select(func.count()).select_from(c)),
            active_calls=one(select(func.count()).select_from(c).where(c.c.status == "active")),
            open_items=one(select(func.count()).select_from(w).where(w.c.state == WorkState.OPEN)),
            audit_rows=one(select(func.count()).select_from(schema.audit_log)),
            outbox={state: n for state, n in conn.execute(select(o.c.state, func.count()).group_by(o.c.state))},
        )


def purge(store: RecordStore, retention_days: int, now: datetime | None = None, *,
          audit_retention_days: int = AUDIT_RETENTION_DAYS, dry_run: bool = False) -> PurgeResult:
    """Delete calls started more than ``retention_days`` ago — their replies, actions, work items,
    deliveries, emotion rows and transcripts go with them (ON DELETE CASCADE) — and audit rows older
    than ``audit_retention_days`` (never shorter than the calls'), :data:`BATCH` calls per
    transaction so the writer is never held for long."""
    if retention_days < 1:
        raise QueryError("retention_days is at least 1")
    now = now or utc_now()
    calls_before = now - timedelta(days=retention_days)
    audit_before = now - timedelta(days=max(audit_retention_days, retention_days))
    c, w, log = schema.calls, schema.work_items, schema.audit_log
    if dry_run:
        with store.reading() as conn:
            old = select(c.c.id).where(c.c.started_at < calls_before)
            return PurgeResult(
                calls_before, audit_before,
                conn.execute(select(func.count()).select_from(old.subquery())).scalar_one(),
                conn.execute(select(func.count()).select_from(w).where(w.c.state == WorkState.OPEN,
                                                                       w.c.call_id.in_(old))).scalar_one(),
                conn.execute(select(func.count()).select_from(log).where(log.c.at < audit_before)).scalar_one(),
                dry_run=True,
            )
    calls_gone = open_gone = audit_gone = 0
    while True:
        with store.reading() as conn:
            ids = list(conn.execute(select(c.c.id).where(c.c.started_at < calls_before)
                                    .order_by(c.c.started_at).limit(BATCH)).scalars())
            if not ids:
                break
            open_gone += conn.execute(select(func.count()).select_from(w)
                                      .where(w.c.state == WorkState.OPEN, w.c.call_id.in_(ids))).scalar_one()
            calls_gone += conn.execute(delete(c).where(c.c.id.in_(ids))).rowcount
    while True:
        with store.reading() as conn:
            ids = list(conn.execute(select(log.c.id).where(log.c.at < audit_before).order_by(log.c.id).limit(BATCH)).scalars())
            if not ids:
                break
            audit_gone += conn.execute(delete(log).where(log.c.id.in_(ids))).rowcount
    return PurgeResult(calls_before, audit_before, calls_gone, open_gone, audit_gone)


def _encrypted_columns() -> list[tuple[Any, Any, tuple[Any, ...]]]:
    """(table, PHI column, primary key) of every value to rekey. key_checks is not among them:
    each check row proves its own key and is dropped with it."""
    out = []
    for name, columns in schema.PHI_COLUMNS.items():
        if name == "key_checks":
            continue
        table = schema.metadata.tables[name]
        out += [(table, table.c[col], tuple(table.primary_key.columns)) for col in columns]
    return out


def rekey(store: RecordStore, passes: int = 5) -> int:
    """Re-encrypt every PHI value not under the current key with it; returns how many moved.

    Idempotent and batched (a crash half-way loses nothing: each batch commits values readable
    with the ring as it is). Repeats until a pass finds nothing left — a process still writing
    with the old key first would leave some — then drops the old keys' check rows, so a key ring
    holding only an old key is refused from then on."""
    keys = store.keys
    store.check_keys()  # the ring reads this database, and the current key has its check row
    current = f"{PREFIX}.{keys.current}.%"
    moved_total = 0
    for _ in range(passes):
        moved = 0
        for table, column, pk in _encrypted_columns():
            last: tuple[Any, ...] | None = None
            while True:
                where = [column.is_not(None), column.not_like(current)]
                if last is not None:
                    where.append(_pk_after(pk, last))
                with store.reading() as conn:
                    rows = conn.execute(select(*pk, column).where(*where).order_by(*pk).limit(BATCH)).all()
                    for row in rows:
                        key = tuple(row[: len(pk)])
                        where_row = and_(*(col == value for col, value in zip(pk, key, strict=True)))
                        value = keys.encrypt(keys.decrypt(row[-1], context(table.name, *key)), context(table.name, *key))
                        conn.execute(update(table).where(where_row).values({column.name: value}))
                moved += len(rows)
                if len(rows) < BATCH:
                    break
                last = tuple(rows[-1][: len(pk)])
        moved_total += moved
        if moved == 0:
            kc = schema.key_checks
            with store.reading() as conn:
                conn.execute(delete(kc).where(kc.c.kid != keys.current))
            return moved_total
    raise QueryError(f"values are still being written under an old key after {passes} passes: restart every "
                     "Bedside process with the new key first, then run rekey again")


def _pk_after(pk: tuple[Any, ...], last: tuple[Any, ...]) -> ColumnElement[bool]:
    """(a, b) > (x, y) without row values: a > x OR (a = x AND b > y)."""
    terms = []
    for i, col in enumerate(pk):
        terms.append(and_(*(pk[j] == last[j] for j in range(i)), col > last[i]))
    return or_(*terms)


__all__ = [
    "AUDIT_RETENTION_DAYS", "Action", "AuditEntry", "Burst", "CallDetail", "CallPage", "CallSummary", "Delivery",
    "EMOTIONS", "EXPORT_FIELDS", "Emotion", "EmotionScore", "EmotionState", "EmotionTimeline", "ItemClosed", "LiveNodes",
    "NEGATIVE_VALENCE", "NotFound", "POSITIVE_VALENCE", "PurgeResult", "QueryError", "Reply", "StoreCounts",
    "TranscriptLine", "TurnTiming", "Utterance", "Via", "WorkItem", "WorkItemPage", "WorkState", "audit",
    "audit_entries", "close_item", "counts", "export_calls", "known_nodes", "list_calls", "live_nodes", "parse_when", "purge",
    "rekey", "resolve_item", "show_call", "work_item", "work_items",
]
