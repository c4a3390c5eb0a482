from __future__ import annotations

from typing import Any

import httpx


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    assert set(body) == {"message", "type", "code", "param"}
    return body


async def test_tenant_routes(client: httpx.AsyncClient, gateway: Any) -> None:
    r = await client.post(
        "/tenants", json={"name": "acme", "plan": "standard", "residency": ["eu"]}
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "acme" and r.json()["residency"] == ["eu"]
    assert gateway.changes == 1
    _error(await client.post("/tenants", json={"name": "acme"}), 409)
    listed = (await client.get("/tenants")).json()["data"]
    assert [t["name"] for t in listed] == ["acme"]
    r = await client.patch("/tenants/acme", json={"plan": None, "attributes": {"d": "x"}})
    assert (
        r.status_code == 200 and r.json()["plan"] is None and r.json()["attributes"] == {"d": "x"}
    )
    assert (await client.get("/tenants/acme")).json()["residency"] == ["eu"]
    assert (await client.delete("/tenants/acme?cascade=true")).status_code == 204
    _error(await client.get("/tenants/acme"), 404)


async def test_app_routes(client: httpx.AsyncClient) -> None:
    await client.post("/tenants", json={"name": "acme", "plan": "standard"})
    r = await client.post(
        "/tenants/acme/apps", json={"name": "bot", "plan": "free", "roles": ["production"]}
    )
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["id"].startswith("app_") and app["tenant"] == "acme" and app["plan"] == "free"
    listed = (await client.get("/tenants/acme/apps")).json()["data"]
    assert [a["id"] for a in listed] == [app["id"]]
    r = await client.patch(f"/apps/{app['id']}", json={"name": "bot2"})
    assert r.json()["name"] == "bot2" and r.json()["plan"] == "free"
    assert (await client.get(f"/apps/{app['id']}")).json()["name"] == "bot2"
    assert (await client.delete(f"/apps/{app['id']}")).status_code == 204
    _error(await client.get(f"/apps/{app['id']}"), 404)
    _error(await client.post("/tenants/nope/apps", json={"name": "x"}), 404)


async def test_key_routes_and_index_refresh(client: httpx.AsyncClient, gateway: Any) -> None:
    await client.post("/tenants", json={"name": "acme"})
    app_id = (await client.post("/tenants/acme/apps", json={"name": "bot"})).json()["id"]
    r = await client.post(f"/apps/{app_id}/keys", json={"name": "ci"})
    assert r.status_code == 201, r.text
    key = r.json()
    assert set(key) >= {"id", "key", "prefix", "app_id", "name", "expires_at"}
    assert key["key"].startswith("lg-") and key["prefix"] == key["key"][:10]
    assert gateway.index.lookup(key["key"]) is not None  # refreshed by on_identity_change
    listed = (await client.get(f"/apps/{app_id}/keys")).json()["data"]
    assert [k["prefix"] for k in listed] == [key["prefix"]]
    assert key["key"] not in str(listed) and "hash" not in listed[0]

    r = await client.post(f"/keys/{key['id']}/rotate", json={"grace_seconds": 30})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["rotated_from"] == key["id"]
    assert gateway.index.lookup(key["key"]) is not None  # old key: still in its grace
    assert gateway.index.lookup(new["key"]) is not None

    assert (await client.delete(f"/keys/{key['id']}")).status_code == 204
    assert gateway.index.lookup(key["key"]) is None
    # a body is optional; expires_at is ISO-8601
    r = await client.post(f"/apps/{app_id}/keys")
    assert r.status_code == 201 and r.json()["expires_at"] is None
    r = await client.post(f"/apps/{app_id}/keys", json={"expires_at": "2031-01-01T00:00:00Z"})
    assert r.json()["expires_at"].startswith("2031-01-01T00:00:00")


async def test_missing_or_unknown_admin_key_is_401(client: httpx.AsyncClient) -> None:
    for headers in (
        {"authorization": ""},
        {"authorization": "Bearer nope"},
        {"authorization": "x"},
    ):
        body = _error(await client.get("/tenants", headers=headers), 401)
        assert body["type"] == "authentication_error"


async def test_bad_field_is_400_naming_it(client: httpx.AsyncClient) -> None:
    body = _error(await client.post("/tenants", json={"name": "acme", "plann": "free"}), 400)
    assert body["param"] == "plann" and body["message"].startswith("plann: ")
    assert body["type"] == "invalid_request_error" and body["code"] == "invalid_request"
    body = _error(await client.post("/tenants", json={"name": "acme", "residency": [1]}), 400)
    assert body["param"] == "residency.0"
    body = _error(await client.post("/tenants", json={"name": "bad name"}), 400)
    assert body["param"] == "name"
    body = _error(
        await client.post("/tenants", content=b"{", headers={"content-type": "application/json"}),
        400,
    )
    assert body["param"] == "body"


async def test_unknown_plan_is_400(client: httpx.AsyncClient) -> None:
    body = _error(await client.post("/tenants", json={"name": "acme", "plan": "gold"}), 400)
    assert body["param"] == "plan" and "gold" in body["message"]
    await client.post("/tenants", json={"name": "acme"})
    body = _error(await client.post("/tenants/acme/apps", json={"name": "a", "plan": "gold"}), 400)
    assert body["param"] == "plan"


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json", headers={"authorization": ""})
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert {"/tenants", "/tenants/{tenant}/apps", "/apps/{app_id}/keys", "/admin-keys"} <= set(
        paths
    )
    schemes = r.json()["components"]["securitySchemes"]
    assert schemes["adminKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An admin key (the bootstrap key or one made with POST /admin-keys).",
    }
    assert paths["/tenants"]["post"]["security"] == [{"adminKey": []}]


async def test_unknown_route_uses_the_envelope(client: httpx.AsyncClient) -> None:
    _error(await client.get("/nope"), 404)


async def test_tenant_with_apps_is_deleted_only_with_cascade(client: httpx.AsyncClient) -> None:
    await client.post("/tenants", json={"name": "acme"})
    app = (await client.post("/tenants/acme/apps", json={"name": "bot"})).json()
    r = await client.delete("/tenants/acme")
    assert r.status_code == 409 and "cascade=true" in r.json()["error"]["message"]
    assert (await client.get(f"/apps/{app['id']}")).status_code == 200  # nothing half-deleted
    assert (await client.delete("/tenants/acme?cascade=true")).status_code == 204
    assert (await client.get(f"/apps/{app['id']}")).status_code == 404


async def test_bad_key_input_is_refused_and_nothing_written(client: httpx.AsyncClient) -> None:
    await client.post("/tenants", json={"name": "acme"})
    app = (await client.post("/tenants/acme/apps", json={"name": "bot"})).json()
    past = {"expires_at": "2001-01-01T00:00:00Z"}
    r = await client.post(f"/apps/{app['id']}/keys", json=past)
    assert r.status_code == 400 and "expires_at" in r.json()["error"]["message"]
    r = await client.post(f"/apps/{app['id']}/keys", json={"nmae": "typo"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "nmae"
    assert (await client.get(f"/apps/{app['id']}/keys")).json()["data"] == []
    r = await client.post("/tenants", json={"name": "acme"})
    assert r.status_code == 409


async def test_ip_lists_on_tenants_and_apps(client: httpx.AsyncClient) -> None:
    r = await client.post("/tenants", json={"name": "acme", "allow_ips": ["10.0.0.0/8"]})
    assert r.status_code == 201 and r.json()["allow_ips"] == ["10.0.0.0/8"]
    r = await client.post("/tenants/acme/apps", json={"name": "bot", "deny_ips": ["not-an-ip"]})
    assert r.status_code == 400 and "deny_ips" in r.json()["error"]["message"]
    r = await client.patch("/tenants/acme", json={"deny_ips": ["2001:db8::/32"]})
    assert r.json()["deny_ips"] == ["2001:db8::/32"] and r.json()["allow_ips"] == ["10.0.0.0/8"]


async def test_tenant_admin_gives_out_keys_of_its_own_tenant(client: httpx.AsyncClient) -> None:
    await client.post("/tenants", json={"name": "acme"})
    boss = (
        await client.post("/admin-keys", json={"role": "tenant-admin", "tenant": "acme"})
    ).json()
    h = {"authorization": f"Bearer {boss['key']}"}
    dev = await client.post("/admin-keys", headers=h, json={"role": "developer", "tenant": "acme"})
    assert dev.status_code == 201
    r = await client.post("/admin-keys", headers=h, json={"role": "platform-admin"})
    assert r.status_code == 403
    listed = (await client.get("/admin-keys", headers=h)).json()["data"]
    assert {k["id"] for k in listed} == {boss["id"], dev.json()["id"]}
    assert (await client.delete(f"/admin-keys/{dev.json()['id']}", headers=h)).status_code == 204
    dev_h = {"authorization": f"Bearer {dev.json()['key']}"}
    assert (await client.get("/tenants", headers=dev_h)).status_code == 401  # revoked
