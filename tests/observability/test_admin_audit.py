"""Admin mutations and policy denials in the audit log: who, what, before, after, when."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

ADMIN = "lga-audit-test-admin-key-0123456789abcdef"
CONFIG: dict[str, Any] = {
    "providers": {"demo": {"type": "mock"}},
    "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
    "plans": {"free": {"models": ["m"]}, "pro": {"models": ["*"]}},
    "observability": {"request_log": "off"},
}
Start = Callable[..., AbstractAsyncContextManager[Any]]
H = {"authorization": f"Bearer {ADMIN}"}


async def audit_rows(gw: Any, **params: Any) -> list[dict[str, Any]]:
    await gw.gw.obs.flush()
    r = await gw.client.get("/admin/v1/audit", headers=H, params=params)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["rows"]
    return rows


async def test_mutations_are_audited_with_before_and_after(inproc: Start) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        c = gw.client
        assert (await c.post("/admin/v1/tenants", headers=H, json={"name": "acme"})).is_success
        r = await c.patch("/admin/v1/tenants/acme", headers=H, json={"plan": "pro"})
        assert r.status_code == 200
        app = (await c.post("/admin/v1/tenants/acme/apps", headers=H, json={"name": "a"})).json()
        created = (await c.post(f"/admin/v1/apps/{app['id']}/keys", headers=H, json={})).json()
        assert (await c.delete(f"/admin/v1/keys/{created['id']}", headers=H)).status_code == 204
        assert (await c.get("/admin/v1/tenants", headers=H)).is_success  # reads are not audited
        r = await c.post("/admin/v1/tenants", headers=H, json={"name": "acme"})
        assert r.status_code == 409  # failed: nothing changed, nothing audited

        rows = await audit_rows(gw, actor_type="admin")
        actions = [row["action"] for row in reversed(rows)]
        assert actions == [
            "create_tenant",
            "update_tenant",
            "create_app",
            "create_key",
            "revoke_key",
        ]
        update = rows[3]
        assert update["before"]["plan"] is None and update["after"]["plan"] == "pro"
        assert update["tenant"] == "acme" and update["role"] == "platform-admin"
        assert update["details"]["request"] == {"plan": "pro"}
        key_row = rows[1]
        assert "key" not in key_row["after"] and key_row["after"]["prefix"] == created["prefix"]
        assert created["key"] not in str(rows)  # the secret is never stored
        revoke = rows[0]
        assert revoke["before"]["id"] == created["id"] and revoke["after"] is None
        assert revoke["tenant"] == "acme"
        # the chain over all of it is whole
        assert gw.gw.obs.analytics.audit.verify().ok


async def test_refused_admin_calls_and_policy_denials_are_audited(inproc: Start) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        c = gw.client
        r = await c.post("/admin/v1/tenants", headers={"authorization": "Bearer nope"}, json={})
        assert r.status_code == 401
        key = await gw.key("acme", "bot", plan="free")
        r = await c.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "other", "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.status_code == 404
        rows = await audit_rows(gw)
        denied = [row for row in rows if row["actor_type"] == "policy"]
        assert len(denied) == 1
        d = denied[0]
        assert d["actor"] == "model-access" and d["action"] == "request.denied"
        assert d["tenant"] == "acme" and d["status"] == 404
        assert d["request_id"] == r.headers["x-request-id"]
        assert d["details"]["code"] == "model_not_found"
        unknown = [row for row in rows if row["actor_type"] == "admin"]
        assert [(u["action"], u["actor"], u["status"]) for u in unknown] == [
            ("denied", "unknown-key", 401)
        ]
        rows = await audit_rows(gw, actor="model-access")
        assert len(rows) == 1
