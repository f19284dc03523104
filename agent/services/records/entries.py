"""What a call writes to its record as it happens: one frozen entry per fact.

The call runtime (agent/call) builds these the moment something is decided or measured and
hands them to a :class:`Journal` — the records writer (writer.py), which never blocks the
caller's loop — or to :class:`NullJournal` when records are off. Fields marked PHI are
encrypted before they reach the database or the spool."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CallOpened:
    call_id: str
    started_at: datetime  # aware UTC
    host: str
    worker: int
    graph_version: str | None
    caller: str  # PHI: the caller's SIP URI


@dataclass(frozen=True, slots=True)
class ReplyLogged:
    call_id: str
    seq: int
    at_s: float
    label: str
    turn: int | None
    node: str | None
    expression: str
    expression_why: str


@dataclass(frozen=True, slots=True)
class TurnTimed:
    call_id: str
    turn: int
    speech_s: float
    timings_ms: Mapping[str, int | None]  # vad_ms, transcript_ms, reply_ready_ms, first_audio_ms


@dataclass(frozen=True, slots=True)
class TranscriptLogged:
    call_id: str
    seq: int
    at_s: float
    text: str  # PHI; only written with records.keep_transcripts


@dataclass(frozen=True, slots=True)
class WebhookOrder:
    """A webhook the outbox must deliver (the action's ``url`` was set)."""

    url: str
    timeout_s: float
    payload: Mapping[str, object]  # PHI: slots included


@dataclass(frozen=True, slots=True)
class ActionLogged:
    """A decided action, written before the line announcing it is spoken."""

    call_id: str
    seq: int
    decided_at: datetime
    kind: str  # callback, webhook, transfer, urgency, end_call
    node: str | None = None
    target: str | None = None  # team, transfer target or webhook event
    priority: str | None = None
    reason: str | None = None
    slots: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # PHI
    work_item: str | None = None  # callback, unanswered_transfer: staff must act on it
    webhook: WebhookOrder | None = None


@dataclass(frozen=True, slots=True)
class SegmentScored:
    call_id: str
    seq: int
    begin_s: float
    end_s: float
    valence: float
    arousal: float
    burst: str
    burst_score: float
    prosody: Mapping[str, float]
    embedding: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class UtteranceScored:
    call_id: str
    seq: int
    at_s: float
    valence: float
    arousal: float
    top_emotions: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class StateChanged:
    call_id: str
    seq: int
    at_s: float
    valence: float
    arousal: float
    trend: str
    coherence: float
    available: bool
    burst: str | None


@dataclass(frozen=True, slots=True)
class CallClosed:
    call_id: str
    ended_at: datetime
    end_reason: str
    turns: int
    barge_ins: int
    reprompts: int
    urgent: bool
    handed_off: bool
    final_valence: float | None
    final_arousal: float | None
    final_trend: str | None


Entry = (
    CallOpened | ReplyLogged | TurnTimed | TranscriptLogged | ActionLogged | SegmentScored | UtteranceScored
    | StateChanged | CallClosed
)


class Journal(Protocol):
    """Takes a call's entries without blocking; ``keeps_transcripts`` says whether to send words."""

    keeps_transcripts: bool
    delivers_webhooks: bool  # True: webhooks go through the durable outbox, the call must not send them

    def write(self, entry: Entry) -> None: ...


class NullJournal:
    """Records off: nothing is kept."""

    keeps_transcripts = False
    delivers_webhooks = False

    def write(self, entry: Entry) -> None:
        return None


__all__ = [
    "ActionLogged", "CallClosed", "CallOpened", "Entry", "Journal", "NullJournal", "ReplyLogged", "SegmentScored",
    "StateChanged", "TranscriptLogged", "TurnTimed", "UtteranceScored", "WebhookOrder",
]
