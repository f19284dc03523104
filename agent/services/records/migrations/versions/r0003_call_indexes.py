"""index work items and webhook deliveries by call (a call's detail, and purge's cascade, scanned both)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_work_items_call_id", "work_items", ["call_id"])
    op.create_index("ix_webhook_outbox_call_id", "webhook_outbox", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_call_id", "webhook_outbox")
    op.drop_index("ix_work_items_call_id", "work_items")
