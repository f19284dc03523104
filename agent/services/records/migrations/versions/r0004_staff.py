"""staff accounts: who may sign in to the console, with which role (Argon2id password hashes)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent.services.records.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("password_changed_at", UtcDateTime, nullable=False),
        sa.Column("disabled_at", UtcDateTime),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", UtcDateTime),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_staff")),
    )


def downgrade() -> None:
    op.drop_table("staff")
