from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from lockgate.admin import create_admin_app
from lockgate.identity import AdminPrincipal, KeyIndex
from lockgate.store import Store

ROOT = "lga-root-bootstrap-key"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/lockgate.db")
    s.migrate()
    yield s
    s.close()


@dataclass
class Gateway:
    """The parts of the gateway the admin API talks to: an index refreshed on change."""

    store: Store
    index: KeyIndex = field(default_factory=KeyIndex.empty)
    changes: int = 0

    def refresh(self) -> None:
        self.index = KeyIndex.from_snapshot(
            self.store.load_identity(), hasher=self.store.key_hasher(), bootstrap_admin_keys=[ROOT]
        )

    async def on_change(self) -> None:
        self.changes += 1
        self.refresh()

    def admin_auth(self, secret: str) -> AdminPrincipal | None:
        return self.index.admin_lookup(secret)


@pytest.fixture
def gateway(store: Store) -> Gateway:
    gw = Gateway(store)
    gw.refresh()
    return gw


async def _no_limits(subject: Any) -> dict[str, Any]:
    return {"tenant": subject.tenant, "limits": []}


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    admin = create_admin_app(
        store=gateway.store,
        admin_auth=gateway.admin_auth,
        on_identity_change=gateway.on_change,
        plan_names=lambda: {"free", "standard"},
        limits_report=_no_limits,
    )
    app = Starlette(routes=[Mount("/admin/v1", app=admin)])
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": f"Bearer {ROOT}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test/admin/v1", headers=headers
    ) as c:
        yield c
