"""Cross-tenant isolation on every admin route, driven by the OpenAPI document's route list,
so a new route is covered (or fails here until it says how) without editing this file's logic.

For each route and each tenant-scoped role of tenant ``acme``: a route addressing an object of
tenant ``globex`` answers exactly as for an object that does not exist (404, or the constant
403 of a role that may not do it at all); a listing route shows nothing of ``globex``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ROLES = ("tenant-admin", "developer", "auditor")
# Listing routes and creations without an object in their path: what each must not reveal.
UNADDRESSED = {
    ("get", "/tenants"): "list",
    ("get", "/admin-keys"): "list",
    ("post", "/tenants"): "platform",
    ("post", "/admin-keys"): "grant",
    ("get", "/limits"): "query",
    ("get", "/apis"): "list",
    ("post", "/apis"): "api",
    ("get", "/subscriptions"): "list",
    ("post", "/subscriptions"): "subscribe",
}
API = {"model": "m", "template": "Say {{ text }}"}


async def _world(client: httpx.AsyncClient) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for tenant in ("acme", "globex"):
        assert (await client.post("/tenants", json={"name": tenant})).status_code == 201
        app = (await client.post(f"/tenants/{tenant}/apps", json={"name": "bot"})).json()
        key = (await client.post(f"/apps/{app['id']}/keys", json={})).json()
        admin = (
            await client.post("/admin-keys", json={"role": "auditor", "tenant": tenant})
        ).json()
        # A draft API (invisible to other tenants), and a published one the app subscribes to:
        # its name does not give the tenant away, since a published API is public.
        draft = f"{tenant}-draft"
        assert (
            await client.post("/apis", json={"name": draft, "tenant": tenant})
        ).status_code == 201
        assert (await client.post(f"/apis/{draft}/versions", json=API)).status_code == 201
        public = f"ledger-{len(ids)}"
        await client.post("/apis", json={"name": public, "tenant": tenant})
        await client.post(f"/apis/{public}/versions", json=API)
        await client.post(f"/apis/{public}/versions/v1/publish")
        sub = await client.post("/subscriptions", json={"app_id": app["id"], "api": public})
        assert sub.status_code == 201, sub.text
        ids[tenant] = {
            "tenant": tenant,
            "app_id": app["id"],
            "key_id": key["id"],
            "admin_key_id": admin["id"],
            "key": key,
            "name": draft,
            "version": "v1",
            "subscription_id": sub.json()["id"],
            "public": public,
        }
    for role in ROLES:
        r = await client.post("/admin-keys", json={"role": role, "tenant": "acme"})
        ids[role] = {"authorization": f"Bearer {r.json()['key']}"}
    return ids


def _body(op: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any] | None:
    """A minimal valid body: the required fields of the request schema."""
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content["schema"]
    for option in schema.get("anyOf", [schema]):
        if "$ref" in option:
            schema = doc["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
            break
    return {name: "x1" for name in schema.get("required", [])}


def _routes(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in sorted(doc["paths"].items())
        for method, op in sorted(item.items())
    ]


async def test_no_tenant_scoped_key_can_see_or_touch_another_tenant(
    client: httpx.AsyncClient,
) -> None:
    ids = await _world(client)
    doc = (await client.get("/openapi.json")).json()
    routes = _routes(doc)
    assert len(routes) >= 15
    other = ids["globex"]
    for role in ROLES:
        headers = ids[role]
        for method, path, op in routes:
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            body = _body(op, doc)
            if not params:
                await _unaddressed(client, method, path, headers, role, body)
                continue
            missing = [p for p in params if p not in other]
            assert not missing, f"{method} {path}: add a value for {missing} to _world()"
            values = {p: other[p] for p in params}
            r = await client.request(method, path.format(**values), headers=headers, json=body)
            # exactly the answer for an object that does not exist: nothing can be inferred
            ghosts = {p: f"nope{i}" for i, p in enumerate(params)}
            r2 = await client.request(method, path.format(**ghosts), headers=headers, json=body)
            where = (role, method, path, r.status_code, r.text)
            assert r.status_code in (403, 404) and r.status_code == r2.status_code, where
            text = r.text
            for p in params:
                text = text.replace(str(values[p]), ghosts[p])
            assert text == r2.text, where
            if method == "get":
                assert r.status_code == 404, where  # every role may read its own tenant


async def ids_of_other(client: httpx.AsyncClient) -> dict[str, str]:
    """globex's tenant, app and key, as query parameters name them."""
    app = (await client.get("/tenants/globex/apps")).json()["data"][0]
    key = (await client.get(f"/apps/{app['id']}/keys")).json()["data"][0]
    return {"tenant": "globex", "app": app["id"], "key": key["id"]}


async def _unaddressed(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    role: str,
    body: dict[str, Any] | None,
) -> None:
    kind = UNADDRESSED.get((method, path))
    assert kind is not None, f"{method} {path}: say what it must not reveal in UNADDRESSED"
    if kind == "list":
        r = await client.request(method, path, headers=headers)
        assert r.status_code in (200, 403), (role, path)
        assert "globex" not in r.text, (role, path)
    elif kind == "platform":
        r = await client.request(method, path, headers=headers, json=body)
        assert r.status_code == 403, (role, path)
    elif kind == "query":  # objects named in the query string
        for name, value in (await ids_of_other(client)).items():
            r = await client.get(path, headers=headers, params={name: value})
            ghost = await client.get(path, headers=headers, params={name: "nope"})
            assert r.status_code == ghost.status_code == 404, (role, path, name, r.text)
            assert r.text.replace(value, "nope") == ghost.text
    elif kind == "api":  # creating an API for another tenant
        r = await client.post(path, headers=headers, json={"name": "x", "tenant": "globex"})
        ghost = await client.post(path, headers=headers, json={"name": "x", "tenant": "nope"})
        assert r.status_code == ghost.status_code and r.status_code in (403, 404), (role, r.text)
        assert r.text.replace("globex", "nope") == ghost.text
    elif kind == "subscribe":  # subscribing another tenant's app
        app = (await client.get("/tenants/globex/apps")).json()["data"][0]["id"]
        body = {"app_id": app, "api": "ledger-1"}
        r = await client.post(path, headers=headers, json=body)
        ghost = await client.post(path, headers=headers, json={**body, "app_id": "nope"})
        assert r.status_code == ghost.status_code and r.status_code in (403, 404), (role, r.text)
        assert r.text.replace(app, "nope") == ghost.text
    else:  # granting an admin key of another tenant
        r = await client.post(path, headers=headers, json={"role": "auditor", "tenant": "globex"})
        ghost = await client.post(path, headers=headers, json={"role": "auditor", "tenant": "nope"})
        assert r.status_code == ghost.status_code and r.status_code in (403, 404)
        assert r.text.replace("globex", "nope") == ghost.text


@pytest.mark.parametrize("role", ROLES)
async def test_listings_show_only_the_own_tenant(client: httpx.AsyncClient, role: str) -> None:
    ids = await _world(client)
    tenants = (await client.get("/tenants", headers=ids[role])).json()["data"]
    assert [t["name"] for t in tenants] == ["acme"]
