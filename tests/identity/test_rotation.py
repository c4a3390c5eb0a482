"""Rotation: the old key works for the grace period (configurable), then stops, on an
injected clock; the grace applied by the admin API comes from auth.api_keys.rotation_grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lockgate.identity.index import KeyIndex
from lockgate.store import Store

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_old_key_works_for_the_grace_then_stops(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/r.db", now=lambda: T0)
    store.migrate()
    try:
        store.create_tenant("acme")
        old = store.create_key(store.create_app("acme", "bot").id)
        new = store.rotate_key(old.key.id, 60)
        now = [T0.timestamp()]
        index = KeyIndex.from_snapshot(
            store.load_identity(), lambda: now[0], hasher=store.key_hasher()
        )
        assert index.lookup(old.secret) is not None and index.lookup(new.secret) is not None
        now[0] += 59.9
        assert index.lookup(old.secret) is not None
        now[0] += 0.1
        assert index.lookup(old.secret) is None  # the grace is over
        assert index.lookup(new.secret) is not None
    finally:
        store.close()


async def test_admin_rotation_uses_the_configured_grace(inproc: Any) -> None:
    doc = {
        "providers": {"demo": {"type": "mock"}},
        "auth": {"api_keys": {"rotation_grace": "90s"}},
        "server": {"admin_keys": ["lga-rotation-admin-0123456789abcdef"]},
    }
    async with inproc(doc) as gw:
        gw.gw.store.create_tenant("acme")
        app = gw.gw.store.create_app("acme", "bot")
        old = gw.gw.store.create_key(app.id)
        await gw.gw.refresher.refresh_now()
        h = {"authorization": "Bearer lga-rotation-admin-0123456789abcdef"}
        before = datetime.now(UTC)
        r = await gw.client.post(f"/admin/v1/keys/{old.key.id}/rotate", headers=h)
        assert r.status_code == 201, r.text
        keys = (await gw.client.get(f"/admin/v1/apps/{app.id}/keys", headers=h)).json()["data"]
        [rotated] = [k for k in keys if k["id"] == old.key.id]
        ends = datetime.fromisoformat(rotated["expires_at"])
        assert before + timedelta(seconds=89) <= ends <= datetime.now(UTC) + timedelta(seconds=91)
        r = await gw.client.post(
            f"/admin/v1/keys/{r.json()['id']}/rotate", headers=h, json={"grace_seconds": 0}
        )
        assert r.status_code == 201
