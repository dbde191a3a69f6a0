"""Alembic environment: the store's metadata and the connection :func:`qinternet.kms.migrate.upgrade` passes."""

from __future__ import annotations

from alembic import context

from qinternet.kms.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
