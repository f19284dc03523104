"""Entries -> row writes (rows.py): every entry kind makes its rows, PHI leaves only as ciphertext
bound to its row, words are dropped unless transcripts are kept, and a write survives the spool's
JSON round trip unchanged (datetimes with their zone, bytes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from agent.services.records.crypto import KeyRing, RecordsKeyError, new_key
from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    CallOpened,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TranscriptLogged,
    TurnTimed,
    UtteranceScored,
    WebhookOrder,
)
from agent.services.records.ids import delivery_id, work_item_id
from agent.services.records.rows import RowMaker, RowWrite, WriteKind, context

KEYS = KeyRing.of([new_key()], "test")
CALL = "call-0001"
AT = datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=UTC)
CALLER = "sip:+15550104477@pbx.example.org"
SLOTS = {"full_name": "Maria Lopez", "date_of_birth": "1985-03-03", "callback_phone": "5550104477"}
SAID = "my name is Maria Lopez, born 1985-03-03, call me back on 5550104477"
PHI = ("Maria", "Lopez", "1985-03-03", "5550104477", "+15550104477")


def maker(keep_transcripts: bool = True) -> RowMaker:
    return RowMaker(KEYS, keep_transcripts, timedelta(hours=6))


def one_of_each() -> list:
    return [
        CallOpened(CALL, AT, "clinic-a", 2, "g-17", CALLER),
        ReplyLogged(CALL, 0, 0.5, "greeting", None, "consent", "warm", "default"),
        TurnTimed(CALL, 1, 2.25, {"vad_ms": 210, "transcript_ms": 340, "reply_ready_ms": None}),
        TranscriptLogged(CALL, 1, 3.0, SAID),
        ActionLogged(CALL, 1, AT + timedelta(seconds=20), "callback", node="callback", target="front_desk",
                     priority="urgent", reason="wants a call back", slots=SLOTS, work_item="callback"),
        ActionLogged(CALL, 2, AT + timedelta(seconds=21), "webhook", node="callback", target="callback.requested",
                     slots=SLOTS, webhook=WebhookOrder("https://hooks.example.org/in", 4.0,
                                                       {"event": "callback.requested", "slots": SLOTS, "caller": CALLER})),
        ActionLogged(CALL, 3, AT + timedelta(seconds=22), "urgency", node="triage", reason="chest pain"),
        SegmentScored(CALL, 0, 1.0, 2.5, -0.25, 0.5, "none", 0.01, {"pitch_mean": 180.123456}, (0.5, -1.25, 3.0)),
        UtteranceScored(CALL, 1, 3.0, -0.2, 0.4, (("calm", 0.612345), ("worried", 0.2))),
        StateChanged(CALL, 1, 3.5, -0.2, 0.4, "falling", 0.8, True, None),
        CallClosed(CALL, AT + timedelta(minutes=2), "caller hung up", 4, 1, 0, True, False, -0.1, 0.3, "steady"),
    ]


def test_every_entry_kind_makes_its_rows() -> None:
    entries = one_of_each()
    rows = {type(e).__name__ + (f"-{e.seq}" if isinstance(e, ActionLogged) else ""): maker().rows(e) for e in entries}
    shape = {name: [(w.kind, w.table, w.keys) for w in writes] for name, writes in rows.items()}
    insert, update = WriteKind.INSERT, WriteKind.UPDATE
    assert shape == {
        "CallOpened": [(insert, "calls", ())],
        "ReplyLogged": [(insert, "replies", ())],
        "TurnTimed": [(insert, "turn_timings", ())],
        "TranscriptLogged": [(insert, "transcripts", ())],
        "ActionLogged-1": [(insert, "actions", ()), (insert, "work_items", ())],
        "ActionLogged-2": [(insert, "actions", ()), (insert, "webhook_outbox", ())],
        "ActionLogged-3": [(insert, "actions", ()), (update, "calls", ("id",))],
        "SegmentScored": [(insert, "emotion_segments", ())],
        "UtteranceScored": [(insert, "emotion_utterances", ())],
        "StateChanged": [(insert, "emotion_states", ())],
        "CallClosed": [(update, "calls", ("id",))],
    }
    call = rows["CallOpened"][0].values
    assert call | {"caller_enc": None} == {
        "id": CALL, "started_at": AT, "host": "clinic-a", "worker": 2, "graph_version": "g-17", "caller_enc": None,
        "status": "active", "turns": 0, "barge_ins": 0, "reprompts": 0, "urgent": False, "handed_off": False,
    }
    assert rows["TurnTimed"][0].values == {"call_id": CALL, "turn": 1, "speech_s": 2.25, "vad_ms": 210,
                                           "transcript_ms": 340, "reply_ready_ms": None, "first_audio_ms": None}
    item = rows["ActionLogged-1"][1].values
    assert item == {"id": work_item_id(CALL, 1), "call_id": CALL, "action_seq": 1, "kind": "callback", "team": "front_desk",
                    "priority": "urgent", "reason": "wants a call back", "state": "open",
                    "created_at": AT + timedelta(seconds=20)}
    hook = rows["ActionLogged-2"][1].values
    assert hook["id"] == delivery_id(CALL, 2) and hook["event"] == "callback.requested"
    assert hook["state"] == "pending" and hook["attempts"] == 0 and hook["timeout_s"] == 4.0
    assert hook["next_attempt_at"] == AT + timedelta(seconds=21)
    assert hook["expires_at"] == AT + timedelta(seconds=21, hours=6)
    assert rows["ActionLogged-3"][1].values == {"id": CALL, "urgent": True}
    assert rows["ActionLogged-3"][0].values["slots_enc"] is None  # no slots, nothing to encrypt
    segment = rows["SegmentScored"][0].values
    assert np.frombuffer(segment["embedding"], dtype="<f4").tolist() == [0.5, -1.25, 3.0]
    assert segment["prosody"] == {"pitch_mean": 180.1235}
    assert rows["UtteranceScored"][0].values["top_emotions"] == [["calm", 0.6123], ["worried", 0.2]]
    closed = rows["CallClosed"][0].values
    assert closed["status"] == "ended" and closed["ended_at"] == AT + timedelta(minutes=2) and closed["urgent"] is True
    empty = SegmentScored(CALL, 1, 1.0, 2.0, 0.0, 0.0, "none", 0.0, {}, ())
    assert maker().rows(empty)[0].values["embedding"] is None
    with pytest.raises(TypeError, match="not a record entry: str"):
        maker().rows("CallOpened")  # type: ignore[arg-type]


def test_phi_leaves_only_as_ciphertext_bound_to_its_row() -> None:
    writes = [w for e in one_of_each() for w in maker().rows(e)]
    for w in writes:
        line = w.to_json()
        for value in PHI:
            assert value not in line, (w.table, value)
    by_table = {w.table: w.values for w in writes if w.kind is WriteKind.INSERT}
    assert KEYS.decrypt(by_table["calls"]["caller_enc"], context("calls", CALL)) == CALLER
    assert KEYS.decrypt(by_table["transcripts"]["text_enc"], context("transcripts", CALL, 1)) == SAID
    action = next(w.values for w in writes if w.table == "actions" and w.values["seq"] == 1)
    assert json.loads(KEYS.decrypt(action["slots_enc"], context("actions", CALL, 1))) == SLOTS
    hook = by_table["webhook_outbox"]
    payload = json.loads(KEYS.decrypt(hook["payload_enc"], context("webhook_outbox", delivery_id(CALL, 2))))
    assert payload == {"event": "callback.requested", "slots": SLOTS, "caller": CALLER}
    with pytest.raises(RecordsKeyError):  # a ciphertext moved to another action's row does not decrypt
        KEYS.decrypt(action["slots_enc"], context("actions", CALL, 2))
    with pytest.raises(RecordsKeyError):
        KEYS.decrypt(by_table["calls"]["caller_enc"], context("calls", "call-0002"))


def test_words_are_dropped_unless_transcripts_are_kept() -> None:
    said = TranscriptLogged(CALL, 4, 9.0, SAID)
    assert maker(keep_transcripts=False).rows(said) == []
    assert [w.table for w in maker(keep_transcripts=True).rows(said)] == ["transcripts"]
    assert not any(w.table == "transcripts" for e in one_of_each() for w in maker(keep_transcripts=False).rows(e))


def test_a_write_survives_the_json_round_trip() -> None:
    writes = [w for e in one_of_each() for w in maker().rows(e)]
    assert len(writes) == 14
    for w in writes:
        line = w.to_json()
        assert "\n" not in line  # one spool line per write
        back = RowWrite.from_json(line)
        assert back == w, w.table
        assert type(back.kind) is WriteKind and isinstance(back.keys, tuple)
        for key, value in w.values.items():
            assert type(back.values[key]) is type(value), (w.table, key)
            if isinstance(value, datetime):
                assert back.values[key].utcoffset() == timedelta(0)
    chicago = datetime(2026, 1, 1, 8, tzinfo=UTC).astimezone(ZoneInfo("America/Chicago"))
    other_zone = RowWrite(WriteKind.INSERT, "calls", {"started_at": chicago, "blob": bytes(range(256))})
    back = RowWrite.from_json(other_zone.to_json())
    assert back.values["started_at"] == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert back.values["blob"] == bytes(range(256))
