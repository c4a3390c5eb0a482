"""The admin API of API products and subscriptions: roles, tenant visibility, lifecycle rules."""

from __future__ import annotations

from typing import Any

import httpx

V1 = {"model": "m", "template": "Summarize: {{ text }}"}


async def _keys(client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    out = {}
    for tenant in ("acme", "globex", "initech"):
        assert (await client.post("/tenants", json={"name": tenant})).status_code == 201
        for role in ("tenant-admin", "developer", "auditor"):
            r = await client.post("/admin-keys", json={"role": role, "tenant": tenant})
            out[f"{tenant}:{role}"] = {"authorization": f"Bearer {r.json()['key']}"}
    return out


async def _published(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> None:
    assert (await client.post("/apis", headers=headers, json={"name": name})).status_code == 201
    r = await client.post(f"/apis/{name}/versions", headers=headers, json=V1)
    assert r.status_code == 201, r.text
    r = await client.post(f"/apis/{name}/versions/v1/publish", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "published"


async def test_tenant_admins_manage_their_tenants_apis(client: httpx.AsyncClient) -> None:
    k = await _keys(client)
    acme, globex = k["acme:tenant-admin"], k["globex:tenant-admin"]
    r = await client.post("/apis", headers=acme, json={"name": "summarize"})
    assert r.status_code == 201 and r.json()["tenant"] == "acme"
    r = await client.post("/apis", headers=acme, json={"name": "x", "tenant": "globex"})
    assert r.status_code == 404 and r.json()["error"]["message"] == "tenant 'globex' not found"
    for role in ("developer", "auditor"):
        r = await client.post("/apis", headers=k[f"acme:{role}"], json={"name": "y"})
        assert r.status_code == 403
    await client.post("/apis/summarize/versions", headers=acme, json=V1)
    # a draft is its tenant's business: 404 to others, exactly as for nothing
    for path in ("/apis/summarize", "/apis/summarize/versions/v1"):
        mine = await client.get(path, headers=k["acme:auditor"])
        assert mine.status_code == 200
        theirs = await client.get(path, headers=globex)
        ghost = await client.get(path.replace("summarize", "nope"), headers=globex)
        assert theirs.status_code == ghost.status_code == 404
        assert theirs.text.replace("summarize", "nope") == ghost.text
    assert (await client.get("/apis", headers=globex)).json()["data"] == []
    await client.post("/apis/summarize/versions", headers=acme, json=V1)
    assert (
        await client.post("/apis/summarize/versions/1/publish", headers=acme)
    ).status_code == 200
    # published: others see it (without its owner or its drafts) but may not change it
    seen = (await client.get("/apis/summarize", headers=globex)).json()
    assert seen["tenant"] is None and [v["version"] for v in seen["versions"]] == [1]
    assert (await client.get("/apis/summarize/versions/2", headers=globex)).status_code == 404
    r = await client.patch("/apis/summarize", headers=globex, json={"description": "mine"})
    assert r.status_code == 403 and "another tenant" in r.text
    r = await client.patch("/apis/summarize", headers=acme, json={"description": "Short texts"})
    assert r.json()["description"] == "Short texts"


async def test_published_versions_are_immutable(client: httpx.AsyncClient) -> None:
    await _published(client, {}, "summarize")
    r = await client.patch("/apis/summarize/versions/v1", json={"template": "changed"})
    assert r.status_code == 409 and "immutable" in r.json()["error"]["message"]
    assert (await client.delete("/apis/summarize/versions/v1")).status_code == 409
    r = await client.post("/apis/summarize/versions", json={**V1, "template": "{{ oops"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "template"
    r = await client.post("/apis/summarize/versions", json={**V1, "input_schema": {"type": 7}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input_schema"
    draft = (await client.post("/apis/summarize/versions", json=V1)).json()
    assert (
        draft["version"] == 2
        and draft["status"] == "draft"
        and draft["path"] == "/apis/summarize/v2"
    )
    r = await client.patch("/apis/summarize/versions/2", json={"max_tokens": 50})
    assert r.json()["max_tokens"] == 50 and r.json()["template"] == V1["template"]
    assert (await client.delete("/apis/summarize/versions/2")).status_code == 204
    assert (await client.post("/apis/summarize/versions/v1/publish")).status_code == 409
    r = await client.post("/apis/summarize/versions/v1/deprecate", json={"sunset": "2027-06-30"})
    assert r.json()["sunset"].startswith("2027-06-30T00:00:00")
    assert (await client.delete("/apis/summarize")).status_code == 409
    assert (await client.post("/apis/summarize/versions/v1/retire")).status_code == 200
    assert (await client.delete("/apis/summarize")).status_code == 204


async def test_developers_subscribe_their_own_apps_only(client: httpx.AsyncClient) -> None:
    k = await _keys(client)
    dev = k["acme:developer"]
    await _published(client, {}, "summarize")
    mine = (await client.post("/tenants/acme/apps", headers=dev, json={"name": "dev-app"})).json()
    assert mine["created_by"] is not None
    other = (await client.post("/tenants/acme/apps", json={"name": "team-app"})).json()
    body = {"app_id": mine["id"], "api": "summarize", "reason": "summaries for support"}
    r = await client.post("/subscriptions", headers=dev, json=body)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    sub = r.json()["id"]
    r = await client.post("/subscriptions", headers=dev, json={**body, "app_id": other["id"]})
    assert r.status_code == 404  # not its app: as if it did not exist
    r = await client.post("/subscriptions", headers=dev, json={**body, "plan": "free"})
    assert r.status_code == 403 and r.json()["error"]["param"] == "plan"
    assert (await client.post("/subscriptions", headers=dev, json=body)).status_code == 409
    assert (await client.post(f"/subscriptions/{sub}/approve", headers=dev)).status_code == 403
    team = await client.post("/subscriptions", json={**body, "app_id": other["id"]})
    listed = (await client.get("/subscriptions", headers=dev)).json()["data"]
    assert [s["id"] for s in listed] == [sub]
    assert (await client.get(f"/subscriptions/{team.json()['id']}", headers=dev)).status_code == 404
    r = await client.post("/subscriptions", headers=dev, json={**body, "api": "nope"})
    assert r.status_code == 404 and r.json()["error"]["param"] == "api"


async def test_only_the_api_owners_admins_decide(client: httpx.AsyncClient) -> None:
    k = await _keys(client)
    await _published(client, k["globex:tenant-admin"], "ledger")
    app = (await client.post("/tenants/acme/apps", json={"name": "bot"})).json()
    sub = (
        await client.post(
            "/subscriptions",
            headers=k["acme:tenant-admin"],
            json={"app_id": app["id"], "api": "ledger"},
        )
    ).json()
    path = f"/subscriptions/{sub['id']}/approve"
    # another tenant's admin: 404, the same as for a subscription that does not exist
    r = await client.post(path, headers=k["initech:tenant-admin"], json={})
    ghost = await client.post("/subscriptions/sub_nope/approve", headers=k["initech:tenant-admin"])
    assert r.status_code == ghost.status_code == 404
    assert r.text.replace(sub["id"], "sub_nope") == ghost.text
    # the app's own tenant sees its subscription but does not decide for another's API
    assert (await client.post(path, headers=k["acme:tenant-admin"])).status_code == 403
    assert (
        await client.get(f"/subscriptions/{sub['id']}", headers=k["acme:auditor"])
    ).status_code == 200
    r = await client.post(
        path, headers=k["globex:tenant-admin"], json={"reason": "ok", "plan": "free"}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["plan"], out["decision_reason"]) == ("active", "free", "ok")
    assert [(e["event"], e["reason"]) for e in out["history"]] == [
        ("subscription.requested", None),
        ("subscription.approved", "ok"),
    ]
    r = await client.post(path, headers=k["globex:tenant-admin"])
    assert r.status_code == 409 and "active" in r.json()["error"]["message"]
    r = await client.post(f"/subscriptions/{sub['id']}/revoke", json={"reason": "abuse"})
    assert r.json()["status"] == "revoked" and r.json()["decided_by"] == "bootstrap"
    # the API owner lists the subscriptions to its API; a third tenant sees none
    theirs = (await client.get("/subscriptions?api=ledger", headers=k["globex:auditor"])).json()
    assert [s["id"] for s in theirs["data"]] == [sub["id"]]
    assert (await client.get("/subscriptions", headers=k["initech:tenant-admin"])).json()[
        "data"
    ] == []
    r = await client.get("/subscriptions?status=active")
    assert r.status_code == 200 and r.json()["data"] == []
    assert (await client.get("/subscriptions?status=bogus")).status_code == 400


async def test_unknown_plans_and_unpublished_apis_are_refused(client: httpx.AsyncClient) -> None:
    await client.post("/tenants", json={"name": "acme"})
    app = (await client.post("/tenants/acme/apps", json={"name": "bot"})).json()
    r = await client.post("/apis", json={"name": "a", "plan": "platinum"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "plan"
    await client.post("/apis", json={"name": "a"})
    await client.post("/apis/a/versions", json=V1)
    r = await client.post("/subscriptions", json={"app_id": app["id"], "api": "a"})
    assert r.status_code == 409  # nothing published yet
    await client.post("/apis/a/versions/1/publish")
    r = await client.post("/subscriptions", json={"app_id": app["id"], "api": "a", "plan": "nope"})
    assert r.status_code == 400


async def test_developer_keys_manage_only_the_apps_they_created(
    client: httpx.AsyncClient, gateway: Any
) -> None:
    k = await _keys(client)
    dev = k["acme:developer"]
    r = await client.post("/admin-keys", json={"role": "developer", "tenant": "acme"})
    dev2 = {"authorization": f"Bearer {r.json()['key']}"}
    mine = (await client.post("/tenants/acme/apps", headers=dev, json={"name": "mine"})).json()
    theirs = (await client.post("/tenants/acme/apps", headers=dev2, json={"name": "theirs"})).json()
    key = (await client.post(f"/apps/{theirs['id']}/keys", headers=dev2)).json()
    listed = (await client.get("/tenants/acme/apps", headers=dev)).json()["data"]
    assert [a["name"] for a in listed] == ["mine"]
    assert (await client.get(f"/apps/{mine['id']}", headers=dev)).status_code == 200
    assert (await client.post(f"/apps/{mine['id']}/keys", headers=dev)).status_code == 201
    for r in (
        await client.get(f"/apps/{theirs['id']}", headers=dev),
        await client.patch(f"/apps/{theirs['id']}", headers=dev, json={"name": "x"}),
        await client.delete(f"/apps/{theirs['id']}", headers=dev),
        await client.get(f"/apps/{theirs['id']}/keys", headers=dev),
        await client.post(f"/apps/{theirs['id']}/keys", headers=dev),
        await client.post(f"/keys/{key['id']}/rotate", headers=dev),
        await client.delete(f"/keys/{key['id']}", headers=dev),
        await client.get(f"/limits?app={theirs['id']}", headers=dev),
        await client.get(f"/limits?key={key['id']}", headers=dev),
    ):
        assert r.status_code == 404, r.text
    # tenant-admins still manage every app of their tenant
    listed = (await client.get("/tenants/acme/apps", headers=k["acme:tenant-admin"])).json()["data"]
    assert {a["name"] for a in listed} == {"mine", "theirs"}
    assert gateway.index.lookup(key["key"]) is not None
