"""Shared service fixtures: Redis and PostgreSQL for tests that need the real thing.

Unreachable services skip their tests with the reason, unless LOCKGATE_REQUIRE_SERVICES=1
(CI), where they fail instead.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest

from lockgate.store import Store

REDIS_DEFAULT = "redis://127.0.0.1:6379/15"
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def _unavailable(reason: str) -> None:
    if os.environ.get("LOCKGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (LOCKGATE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("LOCKGATE_TEST_REDIS_URL", REDIS_DEFAULT)
    if not _reachable(url, 6379):
        _unavailable(f"Redis is not reachable at {url} (set LOCKGATE_TEST_REDIS_URL)")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("LOCKGATE_TEST_POSTGRES_URL", POSTGRES_DEFAULT)
    if not _reachable(url, 5432):
        _unavailable(f"PostgreSQL is not reachable at {url} (set LOCKGATE_TEST_POSTGRES_URL)")
    return url


@pytest.fixture(scope="session")
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A store URL bound to a fresh schema (tables and Alembic's version table live there),
    migrated once; the schema is dropped after the session."""
    import sqlalchemy as sa

    schema = f"lockgate_test_{secrets.token_hex(4)}"
    admin = Store(postgres_url)
    try:
        with admin.engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.close()
        _unavailable(f"PostgreSQL at {postgres_url} refused the connection: {exc.orig}")
    sep = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{sep}options={quote(f'-csearch_path={schema}')}"
    store = Store(url)
    store.migrate()
    store.close()
    try:
        yield url
    finally:
        with admin.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.close()


@pytest.fixture
def pg_store(pg_schema_url: str) -> Iterator[Store]:
    """A migrated PostgreSQL store, emptied after each test."""
    import sqlalchemy as sa

    store = Store(pg_schema_url)
    try:
        yield store
    finally:
        with store.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE tenants, admin_keys, meta CASCADE"))
        store.close()
