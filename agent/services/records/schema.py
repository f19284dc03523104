"""The records schema (SQLAlchemy Core), one for SQLite and PostgreSQL.

This is the schema at the newest migration (agent/services/records/migrations/versions); a test
checks the two agree. Columns ending in ``_enc`` hold PHI, encrypted (crypto.py); nothing else
does: slot values, caller numbers and transcripts never appear in plain text. Every row a call
writes has a natural key (call id plus a sequence number), so writing the same entry twice —
the spool replayed after an outage — changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import DateTime, TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: records keep UTC times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An integer key that autoincrements on both backends (SQLite needs INTEGER PRIMARY KEY).
AutoId = BigInteger().with_variant(Integer(), "sqlite")

CASCADE = {"ondelete": "CASCADE"}

calls = Table(
    "calls", metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("host", String(255), nullable=False),  # the machine whose process answered
    Column("worker", Integer, nullable=False),  # 0: the front process, 1..: SIP workers
    Column("graph_version", String(64)),
    Column("caller_enc", Text),  # PHI: the caller's SIP URI / number
    Column("status", String(16), nullable=False),  # active, ended, interrupted
    Column("ended_at", UtcDateTime),
    Column("end_reason", String(200)),
    Column("turns", Integer, nullable=False, default=0),
    Column("barge_ins", Integer, nullable=False, default=0),
    Column("reprompts", Integer, nullable=False, default=0),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("handed_off", Boolean, nullable=False, default=False),
    Column("final_valence", Float),
    Column("final_arousal", Float),
    Column("final_trend", String(16)),
    Index("ix_calls_started_at", "started_at"),
    Index("ix_calls_status_host", "status", "host", "worker"),
)

replies = Table(
    "replies", metadata,
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at_s", Float, nullable=False),  # seconds since the call was answered
    Column("label", String(32), nullable=False),  # greeting, turn-3, reprompt-1, goodbye, urgency, ...
    Column("turn", Integer),
    Column("node", String(100)),
    Column("expression", String(32), nullable=False),
    Column("expression_why", String(32), nullable=False),
    Index("ix_replies_node", "node", "call_id"),  # revision 0005: the call list's node filter and its choices
)

turn_timings = Table(
    "turn_timings", metadata,
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), primary_key=True),
    Column("turn", Integer, primary_key=True),
    Column("speech_s", Float, nullable=False),
    Column("vad_ms", Integer),
    Column("transcript_ms", Integer),
    Column("reply_ready_ms", Integer),
    Column("first_audio_ms", Integer),
)

transcripts = Table(  # only with records.keep_transcripts (QA)
    "transcripts", metadata,
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at_s", Float, nullable=False),
    Column("text_enc", Text, nullable=False),  # PHI
)

actions = Table(
    "actions", metadata,
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # callback, webhook, transfer, urgency, end_call
    Column("node", String(100)),
    Column("target", String(100)),  # team, transfer target or webhook event
    Column("priority", String(16)),
    Column("reason", String(200)),
    Column("slots_enc", Text),  # PHI: the slot values the action carries
)

emotion_segments = Table(
    "emotion_segments", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),  # the similar-call index's id
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("begin_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("valence", Float, nullable=False),
    Column("arousal", Float, nullable=False),
    Column("burst", String(32), nullable=False),
    Column("burst_score", Float, nullable=False),
    Column("prosody", JSON, nullable=False),
    Column("embedding", LargeBinary),  # float32 little-endian; how it was said, never what
    UniqueConstraint("call_id", "seq", name="uq_emotion_segments_call_seq"),
)

emotion_utterances = Table(
    "emotion_utterances", metadata,
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at_s", Float, nullable=False),
    Column("valence", Float, nullable=False),
    Column("arousal", Float, nullable=False),
    Column("top_emotions", JSON, nullable=False),  # names and scores, no words
)

emotion_states = Table(
    "emotion_states", metadata,
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at_s", Float, nullable=False),
    Column("valence", Float, nullable=False),
    Column("arousal", Float, nullable=False),
    Column("trend", String(16), nullable=False),
    Column("coherence", Float, nullable=False),
    Column("available", Boolean, nullable=False),
    Column("burst", String(32)),
)

key_checks = Table(  # one row per key that has written here: a wrong key is caught at start
    "key_checks", metadata,
    Column("kid", String(16), primary_key=True),
    Column("check_enc", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# ---- revision 0002: the worklist, the webhook outbox, the audit log --------------------------

work_items = Table(
    "work_items", metadata,
    Column("id", String(36), primary_key=True),  # uuid5 of (call, action): a replay makes no second item
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), nullable=False),
    Column("action_seq", Integer),
    Column("kind", String(24), nullable=False),  # callback, unanswered_transfer, webhook_failed
    Column("team", String(100), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # open, done, cancelled
    Column("created_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("closed_by", String(100)),
    Index("ix_work_items_state_created", "state", "created_at"),
    Index("ix_work_items_call_id", "call_id"),  # revision 0003: a call's items; purge's cascade
)

webhook_outbox = Table(
    "webhook_outbox", metadata,
    Column("id", String(36), primary_key=True),  # the idempotency key the receiver sees
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), nullable=False),
    Column("action_seq", Integer, nullable=False),
    Column("event", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("timeout_s", Float, nullable=False),
    Column("payload_enc", Text, nullable=False),  # PHI: the JSON body, slots included
    Column("state", String(16), nullable=False),  # pending, delivered, expired
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(100)),
    Column("claimed_until", UtcDateTime),
    Column("last_status", Integer),
    Column("last_error", String(200)),
    Column("delivered_at", UtcDateTime),
    Index("ix_webhook_outbox_state_due", "state", "next_attempt_at"),
    Index("ix_webhook_outbox_call_id", "call_id"),  # revision 0003
)

audit_log = Table(  # not tied to calls: a read stays audited after the call is purged
    "audit_log", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("via", String(16), nullable=False),  # cli, api
    Column("what", String(32), nullable=False),  # show, list, callbacks, export, similar, done, purge, ...
    Column("call_id", String(64)),
    Column("detail", String(200)),
    Index("ix_audit_log_at", "at"),
)

# ---- revision 0004: staff accounts (the console's sign-in) --------------------------------------

staff = Table(  # no PHI: a staff member's login name, role and an Argon2id hash of the password
    "staff", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # qa, admin (agent/services/records/staff.py: StaffRole)
    Column("password_hash", String(255), nullable=False),  # Argon2id, PHC string (parameters inside)
    Column("created_at", UtcDateTime, nullable=False),
    Column("password_changed_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),  # a disabled account cannot sign in; kept for the audit trail
    Column("failed_logins", Integer, nullable=False, default=0),  # since the last good one
    Column("locked_until", UtcDateTime),  # after too many failures in a row
)

console_sessions = Table(  # a signed-in browser; the cookie holds the token, the database only its hash
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex: a copied database opens no session
    Column("staff", String(64), ForeignKey("staff.name", **CASCADE), nullable=False),
    Column("csrf", String(64), nullable=False),  # the session's anti-forgery token (forms and X-CSRF-Token)
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),  # absolute end, whatever the activity
    Index("ix_console_sessions_staff", "staff"),
)

# ---- revision 0005: corrections (QA marks how a moment really sounded) ------------------------

corrections = Table(  # QA's word on how a moment of a call really sounded (agent/services/records/corrections.py)
    "corrections", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("call_id", String(64), ForeignKey("calls.id", **CASCADE), nullable=False),  # purged with its call
    Column("target", String(16), nullable=False),  # segment (2 s of audio) or utterance (the words' reading)
    Column("seq", Integer, nullable=False),  # the segment's or utterance's seq in its call
    Column("begin_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("affect", String(16)),  # neutral, positive, negative, distressed; None: not about affect
    Column("burst", String(32)),  # a burst type, or "none" (no burst here); None: not about bursts
    Column("model_valence", Float, nullable=False),  # what the models read then, for before/after
    Column("model_arousal", Float, nullable=False),
    Column("model_burst", String(32)),
    Column("staff", String(64), nullable=False),  # who; not a foreign key: the row outlives the account
    Column("created_at", UtcDateTime, nullable=False),  # when
    Index("ix_corrections_call", "call_id", "target", "seq"),
    Index("ix_corrections_created_at", "created_at"),
)

PHI_COLUMNS = {  # table -> its encrypted columns (tests check none holds plain text)
    "calls": ("caller_enc",), "transcripts": ("text_enc",), "actions": ("slots_enc",),
    "webhook_outbox": ("payload_enc",), "key_checks": ("check_enc",),
}

__all__ = [
    "PHI_COLUMNS", "actions", "audit_log", "calls", "emotion_segments", "emotion_states", "emotion_utterances",
    "console_sessions", "corrections", "key_checks", "metadata", "replies", "staff", "transcripts", "turn_timings", "webhook_outbox", "work_items",
]
