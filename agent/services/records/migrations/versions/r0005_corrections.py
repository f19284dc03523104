"""corrections: QA's word on how a moment of a call really sounded (affect, burst), with who, when
and what the models had read; and an index on replies' node (the call list's node filter)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent.services.records.schema import AutoId, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", AutoId, nullable=False, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("begin_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("affect", sa.String(16)),
        sa.Column("burst", sa.String(32)),
        sa.Column("model_valence", sa.Float, nullable=False),
        sa.Column("model_arousal", sa.Float, nullable=False),
        sa.Column("model_burst", sa.String(32)),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_corrections_call_id_calls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index("ix_corrections_call", "corrections", ["call_id", "target", "seq"])
    op.create_index("ix_corrections_created_at", "corrections", ["created_at"])
    op.create_index("ix_replies_node", "replies", ["node", "call_id"])


def downgrade() -> None:
    op.drop_index("ix_replies_node", "replies")
    op.drop_index("ix_corrections_created_at", "corrections")
    op.drop_index("ix_corrections_call", "corrections")
    op.drop_table("corrections")
