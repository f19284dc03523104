"""the staff worklist, the webhook outbox, the audit log; call-backs already kept become work items

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from agent.services.records.ids import work_item_id
from agent.services.records.schema import AutoId, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CASCADE = {"ondelete": "CASCADE"}
TRANSFER_NODE = "transfer"  # a call-back the escalator left when a transfer was not answered


def upgrade() -> None:
    work_items = op.create_table(
        "work_items",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), nullable=False),
        sa.Column("action_seq", sa.Integer),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("closed_by", sa.String(100)),
    )
    op.create_index("ix_work_items_state_created", "work_items", ["state", "created_at"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", **CASCADE), nullable=False),
        sa.Column("action_seq", sa.Integer, nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("timeout_s", sa.Float, nullable=False),
        sa.Column("payload_enc", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until", UtcDateTime),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.String(200)),
        sa.Column("delivered_at", UtcDateTime),
    )
    op.create_index("ix_webhook_outbox_state_due", "webhook_outbox", ["state", "next_attempt_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(64)),
        sa.Column("detail", sa.String(200)),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    # Call-back requests kept before the worklist existed are open work items now.
    actions = sa.table("actions", sa.column("call_id"), sa.column("seq"), sa.column("kind"), sa.column("node"),
                       sa.column("target"), sa.column("priority"), sa.column("reason"), sa.column("decided_at", UtcDateTime))
    bind = op.get_bind()
    rows = bind.execute(sa.select(actions).where(actions.c.kind == "callback")).mappings().all()
    now = datetime.now(UTC)
    if rows:
        op.bulk_insert(work_items, [
            {"id": work_item_id(r["call_id"], r["seq"]), "call_id": r["call_id"], "action_seq": r["seq"],
             "kind": "unanswered_transfer" if r["node"] == TRANSFER_NODE else "callback",
             "team": r["target"] or "", "priority": r["priority"] or "routine", "reason": r["reason"] or "",
             "state": "open", "created_at": r["decided_at"] or now}
            for r in rows
        ])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("webhook_outbox")
    op.drop_table("work_items")
