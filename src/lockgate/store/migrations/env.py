"""Alembic environment: runs on the connection ``lockgate.store.engine.migrate`` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through lockgate.store (Store.migrate), not alembic's CLI")

# No explicit schema: the version table lands in the first schema of the search path, the same
# one the identity tables use (tests rely on this to isolate a PostgreSQL schema).
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
