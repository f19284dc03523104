"""Alembic environment: always run from code (agent/services/records/migrate.py) with a
connection handed in, never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from agent.services.records.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
