"""Entries -> row writes, with PHI encrypted on the way: the one form both the database and the
spool hold. A :class:`RowWrite` is plain JSON-able data (the spool is JSON lines), and every
write is idempotent — an insert that finds its key does nothing, an update sets the same values — so a
spool replayed after an outage neither loses nor doubles anything."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np

from agent.services.records.crypto import KeyRing
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
)
from agent.services.records.ids import delivery_id, work_item_id


class WriteKind(StrEnum):
    INSERT = "insert"  # insert; a row with the same key already there: nothing
    UPDATE = "update"  # set the non-key columns of the row with that key (the same again: the same row)


@dataclass(frozen=True, slots=True)
class RowWrite:
    kind: WriteKind
    table: str
    values: dict[str, Any]  # datetimes and bytes are encoded for JSON by to_json
    keys: tuple[str, ...] = ()  # UPDATE: the columns that find the row

    def to_json(self) -> str:
        return json.dumps({"k": self.kind, "t": self.table, "v": _encode(self.values), "keys": self.keys},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> RowWrite:
        data = json.loads(line)
        return cls(WriteKind(data["k"]), data["t"], _decode(data["v"]), tuple(data["keys"]))


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, datetime):
            out[key] = {"$dt": value.isoformat()}
        elif isinstance(value, bytes):
            out[key] = {"$b64": base64.b64encode(value).decode()}
        else:
            out[key] = value
    return out


def _decode(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and "$dt" in value:
            out[key] = datetime.fromisoformat(value["$dt"])
        elif isinstance(value, dict) and "$b64" in value:
            out[key] = base64.b64decode(value["$b64"])
        else:
            out[key] = value
    return out


def context(table: str, *key: object) -> str:
    """AES-GCM associated data: the row a ciphertext belongs to."""
    return ":".join([table, *map(str, key)])


@dataclass(frozen=True)
class RowMaker:
    """Turns entries into row writes; ``keys`` encrypts, ``expire_after`` bounds webhook retries."""

    keys: KeyRing
    keep_transcripts: bool
    expire_after: timedelta

    def rows(self, entry: Entry) -> list[RowWrite]:
        seal = self.keys.encrypt
        match entry:
            case CallOpened():
                return [RowWrite(WriteKind.INSERT, "calls", {
                    "id": entry.call_id, "started_at": entry.started_at, "host": entry.host, "worker": entry.worker,
                    "graph_version": entry.graph_version, "caller_enc": seal(entry.caller, context("calls", entry.call_id)),
                    "status": "active", "turns": 0, "barge_ins": 0, "reprompts": 0, "urgent": False, "handed_off": False,
                })]
            case ReplyLogged():
                return [RowWrite(WriteKind.INSERT, "replies", {
                    "call_id": entry.call_id, "seq": entry.seq, "at_s": round(entry.at_s, 3), "label": entry.label,
                    "turn": entry.turn, "node": entry.node, "expression": entry.expression,
                    "expression_why": entry.expression_why,
                })]
            case TurnTimed():
                stages = ("vad_ms", "transcript_ms", "reply_ready_ms", "first_audio_ms")
                return [RowWrite(WriteKind.INSERT, "turn_timings", {
                    "call_id": entry.call_id, "turn": entry.turn, "speech_s": round(entry.speech_s, 3),
                    **{stage: entry.timings_ms.get(stage) for stage in stages},
                })]
            case TranscriptLogged():
                if not self.keep_transcripts:
                    return []  # enforced here too: words are kept only when QA asked for them
                return [RowWrite(WriteKind.INSERT, "transcripts", {
                    "call_id": entry.call_id, "seq": entry.seq, "at_s": round(entry.at_s, 3),
                    "text_enc": seal(entry.text, context("transcripts", entry.call_id, entry.seq)),
                })]
            case ActionLogged():
                return self._action(entry)
            case SegmentScored():
                embedding = np.asarray(entry.embedding, dtype="<f4").tobytes() if entry.embedding else None
                return [RowWrite(WriteKind.INSERT, "emotion_segments", {
                    "call_id": entry.call_id, "seq": entry.seq, "begin_s": round(entry.begin_s, 3),
                    "end_s": round(entry.end_s, 3), "valence": entry.valence, "arousal": entry.arousal,
                    "burst": entry.burst, "burst_score": entry.burst_score,
                    "prosody": {k: round(v, 4) for k, v in entry.prosody.items()}, "embedding": embedding,
                })]
            case UtteranceScored():
                return [RowWrite(WriteKind.INSERT, "emotion_utterances", {
                    "call_id": entry.call_id, "seq": entry.seq, "at_s": round(entry.at_s, 3), "valence": entry.valence,
                    "arousal": entry.arousal, "top_emotions": [[n, round(v, 4)] for n, v in entry.top_emotions],
                })]
            case StateChanged():
                return [RowWrite(WriteKind.INSERT, "emotion_states", {
                    "call_id": entry.call_id, "seq": entry.seq, "at_s": round(entry.at_s, 3), "valence": entry.valence,
                    "arousal": entry.arousal, "trend": entry.trend, "coherence": entry.coherence,
                    "available": entry.available, "burst": entry.burst,
                })]
            case CallClosed():
                return [RowWrite(WriteKind.UPDATE, "calls", {
                    "id": entry.call_id, "status": "ended", "ended_at": entry.ended_at, "end_reason": entry.end_reason[:200],
                    "turns": entry.turns, "barge_ins": entry.barge_ins, "reprompts": entry.reprompts,
                    "urgent": entry.urgent, "handed_off": entry.handed_off, "final_valence": entry.final_valence,
                    "final_arousal": entry.final_arousal, "final_trend": entry.final_trend,
                }, keys=("id",))]
        raise TypeError(f"not a record entry: {type(entry).__name__}")

    def _action(self, entry: ActionLogged) -> list[RowWrite]:
        call_id, seq = entry.call_id, entry.seq
        slots = json.dumps(dict(entry.slots), sort_keys=True) if entry.slots else None
        writes = [RowWrite(WriteKind.INSERT, "actions", {
            "call_id": call_id, "seq": seq, "decided_at": entry.decided_at, "kind": entry.kind, "node": entry.node,
            "target": entry.target, "priority": entry.priority, "reason": (entry.reason or "")[:200] or None,
            "slots_enc": self.keys.encrypt(slots, context("actions", call_id, seq)) if slots is not None else None,
        })]
        if entry.kind == "urgency":
            writes.append(RowWrite(WriteKind.UPDATE, "calls", {"id": call_id, "urgent": True}, keys=("id",)))
        if entry.work_item is not None:
            writes.append(RowWrite(WriteKind.INSERT, "work_items", {
                "id": work_item_id(call_id, seq), "call_id": call_id, "action_seq": seq, "kind": entry.work_item,
                "team": entry.target or "", "priority": entry.priority or "routine", "reason": (entry.reason or "")[:200],
                "state": "open", "created_at": entry.decided_at,
            }))
        if entry.webhook is not None:
            key = delivery_id(call_id, seq)
            payload = json.dumps(dict(entry.webhook.payload), sort_keys=True)
            writes.append(RowWrite(WriteKind.INSERT, "webhook_outbox", {
                "id": key, "call_id": call_id, "action_seq": seq, "event": entry.target or "", "url": entry.webhook.url,
                "timeout_s": entry.webhook.timeout_s, "payload_enc": self.keys.encrypt(payload, context("webhook_outbox", key)),
                "state": "pending", "attempts": 0, "created_at": entry.decided_at, "next_attempt_at": entry.decided_at,
                "expires_at": entry.decided_at + self.expire_after,
            }))
        return writes


def utc_now() -> datetime:
    return datetime.now(UTC)


__all__ = ["RowMaker", "RowWrite", "WriteKind", "context", "utc_now"]
