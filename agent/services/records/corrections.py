"""Corrections: QA's word on how a moment of a call really sounded, kept to teach the models.

On the review page QA marks a moment — "not angry, neutral", "this was a sigh", "the caller was
distressed here" — as an *affect* (neutral, positive, negative, distressed) and/or a *burst*
(a burst type, or ``none``). A correction is about one scored thing: a 2-s **segment** of the
caller's audio (the voice's reading, with the audio embedding the calibration learns from), or
an **utterance** (the reading of the caller's words). Each row keeps who and when, and what the
models had read, so a calibration can say before/after. Corrections are never edited: a later
one for the same moment wins (:func:`latest_corrections`), the earlier stay for the audit trail.
They are purged with their call (``records.retention_days``). No PHI: times, labels, numbers;
the embedding in an export says how a moment sounded, never what was said."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import Row, Select, and_, func, select

from agent.services.records import schema
from agent.services.records.queries import NotFound, QueryError, Via, audit
from agent.services.records.rows import utc_now
from agent.services.records.store import RecordStore
from emotion.deployment_calibration import side_of
from emotion.models.burst_labels import NONE as NO_BURST
from emotion.models.burst_labels import output_labels


class Target(StrEnum):
    SEGMENT = "segment"  # 2 s of the caller's audio: the voice's reading (prosody, burst)
    UTTERANCE = "utterance"  # what the caller said: the words' reading (language)


class Affect(StrEnum):
    NEUTRAL = "neutral"  # "not angry — neutral"
    POSITIVE = "positive"
    NEGATIVE = "negative"
    DISTRESSED = "distressed"  # "the caller was distressed here": negative and aroused


# What each affect means on the models' scales, (valence -1..1, arousal 0..1 or None: as read).
# Half-way points rather than the extremes: QA says which side, not how far.
AFFECT_READING: dict[Affect, tuple[float, float | None]] = {
    Affect.NEUTRAL: (0.0, None),
    Affect.POSITIVE: (0.5, None),
    Affect.NEGATIVE: (-0.5, None),
    Affect.DISTRESSED: (-0.7, 0.85),
}
BURSTS: frozenset[str] = frozenset(output_labels())  # the burst types the service reports, "none" included


def affect_of(valence: float) -> Affect:
    """The affect a reading falls in (the labels' half-way points split the scale: side_of)."""
    return (Affect.NEGATIVE, Affect.NEUTRAL, Affect.POSITIVE)[side_of(valence) + 1]


class CorrectionError(QueryError):
    """A correction that cannot be kept as asked; the message says why (no PHI in it)."""


@dataclass(frozen=True)
class Correction:
    id: int
    call_id: str
    target: Target
    seq: int
    begin_s: float
    end_s: float
    affect: Affect | None
    burst: str | None
    model_valence: float
    model_arousal: float
    model_burst: str | None
    staff: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"], out["created_at"] = str(self.target), self.created_at.isoformat()
        out["affect"] = None if self.affect is None else str(self.affect)
        return out


_STAFF = re.compile(r"[\w.@-]{1,64}")


def add_correction(
    store: RecordStore, call_id: str, *, staff: str, via: Via, target: Target = Target.SEGMENT, seq: int | None = None,
    at_s: float | None = None, affect: Affect | str | None = None, burst: str | None = None,
) -> Correction:
    """Keep QA's correction of one segment or utterance, named by ``seq`` or by a time ``at_s``
    in the call (the segment that covers it, else the nearest; the utterance closest to it).
    Audited (``correct``). CorrectionError for a label that does not exist, nothing to correct, or
    no such moment; NotFound for no such call."""
    if affect is None and burst is None:
        raise CorrectionError("say what it was: an affect (neutral, positive, negative, distressed) or a burst")
    try:
        affect = None if affect is None else Affect(affect)
    except ValueError:
        raise CorrectionError(f"no affect {str(affect)[:32]!r}: neutral, positive, negative or distressed") from None
    if burst is not None and burst not in BURSTS:
        raise CorrectionError(f"no burst type {burst[:32]!r} (e.g. sigh, laugh, cry, cough; none: no burst)")
    if target is Target.UTTERANCE and burst is not None:
        raise CorrectionError("a burst is heard in the voice: correct the segment, not the utterance")
    if (seq is None) == (at_s is None):
        raise CorrectionError("name the moment by its seq or by a time in the call (at_s), one of them")
    if not _STAFF.fullmatch(staff):
        raise CorrectionError("staff name")
    with store.reading() as conn:
        if conn.execute(select(schema.calls.c.id).where(schema.calls.c.id == call_id)).first() is None:
            raise NotFound(f"no call {call_id} (wrong id, or purged after records.retention_days)")
        row = _moment(conn, call_id, target, seq, at_s)
        if row is None:
            where = f"seq {seq}" if seq is not None else f"{at_s:.1f} s"
            raise CorrectionError(f"call {call_id} has no scored {target} at {where}")
        begin, end = (row.begin_s, row.end_s) if target is Target.SEGMENT else (row.at_s, row.at_s)
        model_burst = row.burst if target is Target.SEGMENT else None
        values = dict(call_id=call_id, target=str(target), seq=row.seq, begin_s=begin, end_s=end,
                      affect=None if affect is None else str(affect), burst=burst, model_valence=row.valence,
                      model_arousal=row.arousal, model_burst=model_burst, staff=staff, created_at=utc_now())
        new_id = conn.execute(schema.corrections.insert().values(**values)).inserted_primary_key[0]
    audit(store, staff, via, "correct", call_id, detail=f"{target} {row.seq}: affect={affect} burst={burst}")
    return Correction(id=int(new_id), **{**values, "target": target, "affect": affect})


def _moment(conn: Any, call_id: str, target: Target, seq: int | None, at_s: float | None) -> Row[Any] | None:
    if target is Target.SEGMENT:
        s = schema.emotion_segments
        cols = (s.c.seq, s.c.begin_s, s.c.end_s, s.c.valence, s.c.arousal, s.c.burst)
        if seq is not None:
            return conn.execute(select(*cols).where(s.c.call_id == call_id, s.c.seq == seq)).first()
        covering = conn.execute(select(*cols).where(s.c.call_id == call_id, s.c.begin_s <= at_s, s.c.end_s > at_s)
                                .order_by(s.c.seq).limit(1)).first()
        if covering is not None:
            return covering
        distance = func.abs((s.c.begin_s + s.c.end_s) / 2 - at_s)
        return conn.execute(select(*cols).where(s.c.call_id == call_id).order_by(distance, s.c.seq).limit(1)).first()
    u = schema.emotion_utterances
    cols = (u.c.seq, u.c.at_s, u.c.valence, u.c.arousal)
    if seq is not None:
        return conn.execute(select(*cols).where(u.c.call_id == call_id, u.c.seq == seq)).first()
    return conn.execute(select(*cols).where(u.c.call_id == call_id)
                        .order_by(func.abs(u.c.at_s - at_s), u.c.seq).limit(1)).first()


def _correction(row: Row[Any]) -> Correction:
    return Correction(
        id=int(row.id), call_id=row.call_id, target=Target(row.target), seq=row.seq, begin_s=row.begin_s, end_s=row.end_s,
        affect=None if row.affect is None else Affect(row.affect), burst=row.burst, model_valence=row.model_valence,
        model_arousal=row.model_arousal, model_burst=row.model_burst, staff=row.staff, created_at=row.created_at,
    )


def corrections_for(store: RecordStore, call_id: str) -> list[Correction]:
    """Every correction of one call, oldest first (superseded ones included: the trail)."""
    c = schema.corrections
    with store.reading() as conn:
        rows = conn.execute(select(c).where(c.c.call_id == call_id).order_by(c.c.created_at, c.c.id)).all()
    return [_correction(r) for r in rows]


@dataclass(frozen=True)
class CorrectedSegment:
    """The latest correction of a segment, with the segment's stored audio embedding."""

    correction: Correction
    embedding: np.ndarray | None  # unit float32; None when the segment had none (silence)
    started_at: datetime  # the call's start: the calibration holds whole calls back


def _latest(target: Target | None, since: datetime | None) -> Select[Any]:
    """The newest correction of every moment (``target``'s only), oldest moment first."""
    c = schema.corrections
    newest = (select(c.c.call_id, c.c.target, c.c.seq, func.max(c.c.id).label("id"))
              .group_by(c.c.call_id, c.c.target, c.c.seq).subquery())
    query = select(c).join(newest, c.c.id == newest.c.id).order_by(c.c.call_id, c.c.target, c.c.seq)
    if target is not None:
        query = query.where(c.c.target == str(target))
    if since is not None:
        query = query.where(c.c.created_at >= since)
    return query


def latest_corrections(store: RecordStore, target: Target | None = None, since: datetime | None = None) -> list[Correction]:
    """One correction per moment — the newest — oldest moment first."""
    with store.reading() as conn:
        return [_correction(r) for r in conn.execute(_latest(target, since)).all()]


def corrected_segments(store: RecordStore, since: datetime | None = None) -> list[CorrectedSegment]:
    """The latest correction of every corrected segment, with its embedding: what a per-deployment
    calibration learns from (agent/app/emotion_calibrate.py). One query: only the corrected
    segments' embeddings are read."""
    c, s, calls = schema.corrections, schema.emotion_segments, schema.calls
    query = (_latest(Target.SEGMENT, since).add_columns(s.c.embedding, calls.c.started_at)
             .join(s, and_(s.c.call_id == c.c.call_id, s.c.seq == c.c.seq)).join(calls, calls.c.id == c.c.call_id))
    with store.reading() as conn:
        rows = conn.execute(query).all()
    out = []
    for row in rows:
        vector = None
        if row.embedding:
            v = np.frombuffer(row.embedding, "<f4")
            vector = v / np.linalg.norm(v) if np.isfinite(v).all() and np.linalg.norm(v) > 0 else None
        out.append(CorrectedSegment(_correction(row), vector, row.started_at))
    return out


@dataclass(frozen=True)
class CorrectedUtterance:
    """The latest correction of an utterance (the words' reading; no words are kept)."""

    correction: Correction
    started_at: datetime  # the call's start: the calibration holds whole calls back


def corrected_utterances(store: RecordStore, since: datetime | None = None) -> list[CorrectedUtterance]:
    """The latest affect correction of every corrected utterance: what the words' valence map
    learns from."""
    c, calls = schema.corrections, schema.calls
    query = (_latest(Target.UTTERANCE, since).add_columns(calls.c.started_at).join(calls, calls.c.id == c.c.call_id)
             .where(c.c.affect.is_not(None)))
    with store.reading() as conn:
        return [CorrectedUtterance(_correction(row), row.started_at) for row in conn.execute(query).all()]


def export_corrections(store: RecordStore, actor: str, via: Via, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The corrections as a dataset, one dict per moment (the latest correction), audited
    (``export``): labels, who and when, what the models read, and for segments the audio
    embedding. No words, no numbers."""
    segments = {(s.correction.call_id, s.correction.seq): s.embedding for s in corrected_segments(store, since)}
    rows = latest_corrections(store, since=since)
    audit(store, actor, via, "export", detail=f"corrections={len(rows)}")
    for c in rows:
        out = c.as_dict()
        if c.target is Target.SEGMENT:
            vector = segments.get((c.call_id, c.seq))
            out["embedding"] = None if vector is None else [round(float(v), 6) for v in vector]
        yield out


__all__ = [
    "AFFECT_READING", "BURSTS", "NO_BURST", "Affect", "CorrectedSegment", "CorrectedUtterance", "Correction",
    "CorrectionError", "Target", "add_correction", "affect_of", "corrected_segments", "corrected_utterances", "corrections_for", "export_corrections",
    "latest_corrections",
]
