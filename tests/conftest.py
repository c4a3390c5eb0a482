"""Shared service fixtures: Redis and PostgreSQL for tests that need the real thing.

Unreachable services skip their tests with the reason, unless LOCKGATE_REQUIRE_SERVICES=1
(CI), where they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
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
            conn.execute(
                sa.text(
                    "TRUNCATE tenants, admin_keys, meta, api_products, api_subscription_events"
                    " CASCADE"
                )
            )
            conn.execute(sa.text("TRUNCATE usage_records, usage_hourly, usage_payloads, audit_log"))
            conn.execute(sa.text("UPDATE audit_head SET seq = 0, hash = :g"), {"g": "0" * 64})
        store.close()


# --- an in-process gateway -------------------------------------------------------------------


class InProc:
    """A started ``Gateway`` on an ASGI client, with a helper to mint data-plane keys."""

    def __init__(self, gateway: Any, client: Any) -> None:
        self.gw = gateway
        self.client = client

    async def key(
        self,
        tenant: str = "acme",
        app: str = "bot",
        *,
        plan: str | None = None,
        tenant_plan: str | None = None,
        app_id: str | None = None,
    ) -> str:
        """A new key: for ``app_id`` if given, else for a new app (and tenant if new)."""
        from lockgate.store.errors import ConflictError

        store = self.gw.store
        if app_id is None:
            with contextlib.suppress(ConflictError):  # several apps of one tenant
                store.create_tenant(tenant, plan=tenant_plan)
            app_id = store.create_app(tenant, app, plan=plan).id
        secret: str = store.create_key(app_id).secret
        await self.gw.refresher.refresh_now()
        return secret


@pytest.fixture
def inproc(tmp_path: Any) -> Callable[..., AbstractAsyncContextManager[InProc]]:
    """``async with inproc({...config...}) as gw:`` — storage defaults to a temp SQLite file."""
    import httpx

    from lockgate.app import Gateway
    from lockgate.config.models import Config

    @asynccontextmanager
    async def start(doc: dict[str, Any], **kwargs: Any) -> AsyncIterator[InProc]:
        full = {"version": 1, "storage": f"sqlite:///{tmp_path / 'inproc.db'}", **doc}
        gw = Gateway(Config.model_validate(full), **kwargs)
        await gw.startup()
        try:
            transport = httpx.ASGITransport(app=gw)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
                yield InProc(gw, c)
        finally:
            await gw.shutdown()

    return start


# --- local models ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ml_models() -> Iterator[Any]:
    """The embedder and the injection classifier, loaded once for the whole session; every
    gateway started meanwhile gets these instead of loading its own."""
    from lockgate.ml import hub

    loaded = hub.load_models()
    patch = pytest.MonkeyPatch()
    patch.setattr(hub, "load_models", lambda: loaded)
    try:
        yield loaded
    finally:
        patch.undo()
