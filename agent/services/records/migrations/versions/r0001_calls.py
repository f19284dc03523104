"""calls, replies, turn timings, transcripts, actions, the emotional timeline, key checks

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent.services.records.schema import AutoId, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CASCADE = {"ondelete": "CASCADE"}


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("worker", sa.Integer, nullable=False),
        sa.Column("graph_version", sa.String(64)),
        sa.Column("caller_enc", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ended_at", UtcDateTime),
        sa.Column("end_reason", sa.String(200)),
        sa.Column("turns", sa.Integer, nullable=False),
        sa.Column("barge_ins", sa.Integer, nullable=False),
        sa.Column("reprompts", sa.Integer, nullable=False),
        sa.Column("urgent", sa.Boolean, nullable=False),
        sa.Column("handed_off", sa.Boolean, nullable=False),
        sa.Column("final_valence", sa.Float),
        sa.Column("final_arousal", sa.Float),
        sa.Column("final_trend", sa.String(16)),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_status_host", "calls", ["status", "host", "worker"])
    op.create_table(
        "replies",
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at_s", sa.Float, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("turn", sa.Integer),
        sa.Column("node", sa.String(100)),
        sa.Column("expression", sa.String(32), nullable=False),
        sa.Column("expression_why", sa.String(32), nullable=False),
    )
    op.create_table(
        "turn_timings",
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), primary_key=True),
        sa.Column("turn", sa.Integer, primary_key=True),
        sa.Column("speech_s", sa.Float, nullable=False),
        sa.Column("vad_ms", sa.Integer),
        sa.Column("transcript_ms", sa.Integer),
        sa.Column("reply_ready_ms", sa.Integer),
        sa.Column("first_audio_ms", sa.Integer),
    )
    op.create_table(
        "transcripts",
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at_s", sa.Float, nullable=False),
        sa.Column("text_enc", sa.Text, nullable=False),
    )
    op.create_table(
        "actions",
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("decided_at", UtcDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("node", sa.String(100)),
        sa.Column("target", sa.String(100)),
        sa.Column("priority", sa.String(16)),
        sa.Column("reason", sa.String(200)),
        sa.Column("slots_enc", sa.Text),
    )
    op.create_table(
        "emotion_segments",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("begin_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("valence", sa.Float, nullable=False),
        sa.Column("arousal", sa.Float, nullable=False),
        sa.Column("burst", sa.String(32), nullable=False),
        sa.Column("burst_score", sa.Float, nullable=False),
        sa.Column("prosody", sa.JSON, nullable=False),
        sa.Column("embedding", sa.LargeBinary),
        sa.UniqueConstraint("call_id", "seq", name="uq_emotion_segments_call_seq"),
    )
    op.create_table(
        "emotion_utterances",
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at_s", sa.Float, nullable=False),
        sa.Column("valence", sa.Float, nullable=False),
        sa.Column("arousal", sa.Float, nullable=False),
        sa.Column("top_emotions", sa.JSON, nullable=False),
    )
    op.create_table(
        "emotion_states",
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at_s", sa.Float, nullable=False),
        sa.Column("valence", sa.Float, nullable=False),
        sa.Column("arousal", sa.Float, nullable=False),
        sa.Column("trend", sa.String(16), nullable=False),
        sa.Column("coherence", sa.Float, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("burst", sa.String(32)),
    )
    op.create_table(
        "key_checks",
        sa.Column("kid", sa.String(16), primary_key=True),
        sa.Column("check_enc", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("key_checks", "emotion_states", "emotion_utterances", "emotion_segments", "actions", "transcripts",
                  "turn_timings", "replies", "calls"):
        op.drop_table(table)
