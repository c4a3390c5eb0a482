from __future__ import annotations

from typing import Any

import httpx


async def _setup(client: httpx.AsyncClient) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for tenant in ("acme", "globex"):
        await client.post("/tenants", json={"name": tenant})
        app = (await client.post(f"/tenants/{tenant}/apps", json={"name": "bot"})).json()
        key = (await client.post(f"/apps/{app['id']}/keys")).json()
        ids[tenant] = {"app": app["id"], "key": key["id"]}
    for role, tenant in (("tenant-admin", "acme"), ("developer", "acme"), ("auditor", "acme")):
        r = await client.post("/admin-keys", json={"role": role, "tenant": tenant})
        assert r.status_code == 201, r.text
        ids[role] = {"authorization": f"Bearer {r.json()['key']}"}
    return ids


async def test_tenant_admin_sees_only_its_tenant(client: httpx.AsyncClient) -> None:
    ids = await _setup(client)
    h = ids["tenant-admin"]
    listed = (await client.get("/tenants", headers=h)).json()["data"]
    assert [t["name"] for t in listed] == ["acme"]
    assert (await client.get("/tenants/acme", headers=h)).status_code == 200
    other = ids["globex"]
    for r in (
        await client.get("/tenants/globex", headers=h),
        await client.get("/tenants/globex/apps", headers=h),
        await client.post("/tenants/globex/apps", headers=h, json={"name": "x"}),
        await client.get(f"/apps/{other['app']}", headers=h),
        await client.delete(f"/apps/{other['app']}", headers=h),
        await client.get(f"/apps/{other['app']}/keys", headers=h),
        await client.post(f"/keys/{other['key']}/rotate", headers=h),
        await client.delete(f"/keys/{other['key']}", headers=h),
    ):
        assert r.status_code == 404, r.text
    # the same answer as for something that does not exist
    missing = (await client.get("/tenants/nope", headers=h)).json()["error"]["message"]
    assert (
        missing.replace("nope", "globex")
        == ((await client.get("/tenants/globex", headers=h)).json()["error"]["message"])
    )
    own = ids["acme"]
    assert (await client.post(f"/apps/{own['app']}/keys", headers=h)).status_code == 201
    assert (await client.post("/tenants", headers=h, json={"name": "x"})).status_code == 403
    assert (
        await client.post("/admin-keys", headers=h, json={"role": "auditor"})
    ).status_code == 403


async def test_auditor_is_read_only(client: httpx.AsyncClient) -> None:
    ids = await _setup(client)
    h = ids["auditor"]
    app_id = ids["acme"]["app"]
    assert (await client.get(f"/apps/{app_id}/keys", headers=h)).status_code == 200
    for r in (
        await client.post(f"/apps/{app_id}/keys", headers=h),
        await client.patch(f"/apps/{app_id}", headers=h, json={"name": "x"}),
        await client.delete(f"/keys/{ids['acme']['key']}", headers=h),
        await client.post("/tenants/acme/apps", headers=h, json={"name": "x"}),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["error"]["type"] == "permission_error"


async def test_developer_manages_apps_and_keys_but_not_policy_fields(
    client: httpx.AsyncClient, gateway: Any
) -> None:
    ids = await _setup(client)
    h = ids["developer"]
    r = await client.post("/tenants/acme/apps", headers=h, json={"name": "dev-app"})
    assert r.status_code == 201, r.text
    key = (await client.post(f"/apps/{r.json()['id']}/keys", headers=h)).json()
    assert gateway.index.lookup(key["key"]) is not None
    r = await client.post("/tenants/acme/apps", headers=h, json={"name": "x", "plan": "standard"})
    assert r.status_code == 403 and r.json()["error"]["param"] == "plan"
    assert (
        await client.patch("/tenants/acme", headers=h, json={"plan": "free"})
    ).status_code == 403


async def test_deleting_a_tenant_ends_its_admin_keys(client: httpx.AsyncClient) -> None:
    ids = await _setup(client)
    assert (await client.delete("/tenants/acme?cascade=true")).status_code == 204
    r = await client.get("/tenants", headers=ids["tenant-admin"])
    assert r.status_code == 401
