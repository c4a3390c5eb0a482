"""Access rules through the gateway: IP lists (with forwarded addresses), CEL conditions, role
operations, JWT and proxy-forwarded client certificates. Each denial is a 403 naming why."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx

from jwt_helpers import AUDIENCE, ISSUER, Keys, token

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
BASE: dict[str, Any] = {
    "providers": {"demo": {"type": "mock"}},
    "models": {
        "chat": {"deployments": [{"provider": "demo", "model": "x"}]},
        "secret-model": {"deployments": [{"provider": "demo", "model": "y"}]},
        "emb": {"kind": "embedding", "deployments": [{"provider": "demo", "model": "e"}]},
    },
}

Start = Callable[..., AbstractAsyncContextManager[Any]]


@asynccontextmanager
async def peer(gw: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose socket address is ``address``."""
    transport = httpx.ASGITransport(app=gw.gw, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        yield c


async def chat(c: httpx.AsyncClient, key: str, **headers: str) -> httpx.Response:
    return await c.post(
        "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}", **headers}
    )


async def test_forwarded_for_is_believed_only_from_trusted_proxies(inproc: Start) -> None:
    doc = {
        **BASE,
        "server": {"trusted_proxies": ["10.0.0.0/8"]},
        "policies": [{"name": "blocked", "deny_ips": ["203.0.113.0/24", "2001:db8::/32"]}],
    }
    async with inproc(doc) as gw:
        key = await gw.key()
        async with peer(gw, "203.0.113.9") as spoofer:  # untrusted: its header is ignored
            r = await chat(spoofer, key, **{"x-forwarded-for": "1.2.3.4"})
            assert r.status_code == 403 and "policy 'blocked'" in r.json()["error"]["message"]
            assert (await spoofer.get("/v1/models", headers=auth(key))).status_code == 403
        async with peer(gw, "10.0.0.1") as proxy:
            r = await chat(proxy, key, **{"x-forwarded-for": "203.0.113.9"})
            assert r.status_code == 403
            # the client put a fake hop on the left; the right-most untrusted hop counts
            r = await chat(proxy, key, **{"x-forwarded-for": "203.0.113.9, 198.51.100.4"})
            assert r.status_code == 200, r.text
            r = await chat(proxy, key, **{"x-forwarded-for": "198.51.100.4, 10.0.0.2"})
            assert r.status_code == 200
            r = await chat(proxy, key, **{"x-forwarded-for": "2001:db8::1"})
            assert r.status_code == 403
        async with peer(gw, "::ffff:203.0.113.9") as mapped:  # IPv4-mapped IPv6: same rule
            assert (await chat(mapped, key)).status_code == 403


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_tenant_and_app_ip_lists(inproc: Start) -> None:
    async with inproc(BASE) as gw:
        store = gw.gw.store
        store.create_tenant("acme", allow_ips=["192.0.2.0/24"])
        app = store.create_app("acme", "bot", deny_ips=["192.0.2.66"])
        key = await gw.key(app_id=app.id)
        async with peer(gw, "192.0.2.10") as inside:
            assert (await chat(inside, key)).status_code == 200
        async with peer(gw, "192.0.2.66") as denied:
            r = await chat(denied, key)
            assert r.status_code == 403 and "app 'acme/bot'" in r.json()["error"]["message"]
        async with peer(gw, "198.51.100.1") as outside:
            r = await chat(outside, key)
            assert r.status_code == 403 and "tenant 'acme' allows only" in r.text


async def test_conditions_on_attributes_headers_models_and_routes(inproc: Start) -> None:
    doc = {
        **BASE,
        "policies": [
            {
                "name": "finance-only",
                "match": {"models": ["secret-model"]},
                "allow_if": 'principal.attributes.department == "finance"',
            },
            {
                "name": "no-red-team",
                "deny_if": '"x-team" in request.headers && request.headers["x-team"] == "red"',
            },
            {
                "name": "office-embeddings",
                "match": {"routes": ["embeddings"]},
                "allow_ips": ["127.0.0.0/8"],
            },
        ],
    }
    async with inproc(doc) as gw:
        store = gw.gw.store
        store.create_tenant("acme", attributes={"department": "finance"})
        store.create_tenant("globex", attributes={"department": "sales"})
        finance = await gw.key(app_id=store.create_app("acme", "bot").id)
        sales = await gw.key(app_id=store.create_app("globex", "bot").id)
        c = gw.client
        body = {**CHAT, "model": "secret-model"}
        r = await c.post("/v1/chat/completions", json=body, headers=auth(finance))
        assert r.status_code == 200, r.text
        r = await c.post("/v1/chat/completions", json=body, headers=auth(sales))
        assert r.status_code == 403
        assert "policy 'finance-only'" in r.json()["error"]["message"]
        assert (await chat(c, sales)).status_code == 200  # another model: the rule is silent
        r = await chat(c, finance, **{"x-team": "red"})
        assert r.status_code == 403 and "no-red-team" in r.text
        emb = {"model": "emb", "input": "x"}
        assert (await c.post("/v1/embeddings", json=emb, headers=auth(sales))).status_code == 200
        async with peer(gw, "198.51.100.1") as outside:
            r = await outside.post("/v1/embeddings", json=emb, headers=auth(sales))
            assert r.status_code == 403 and "office-embeddings" in r.text
            assert (await chat(outside, sales)).status_code == 200


async def test_a_condition_that_cannot_be_evaluated_fails_closed(inproc: Start) -> None:
    doc = {**BASE, "policies": [{"name": "p", "allow_if": "principal.attributes.level > 2"}]}
    async with inproc(doc) as gw:
        r = await chat(gw.client, await gw.key())
        assert r.status_code == 403 and "could not evaluate" in r.json()["error"]["message"]


async def test_role_operations_and_models(inproc: Start) -> None:
    doc = {
        **BASE,
        "roles": {"embedder": {"models": ["emb"], "operations": ["embeddings"]}},
    }
    async with inproc(doc) as gw:
        store = gw.gw.store
        store.create_tenant("acme")
        key = await gw.key(app_id=store.create_app("acme", "bot", roles=["embedder"]).id)
        emb = {"model": "emb", "input": "x"}
        c = gw.client
        assert (await c.post("/v1/embeddings", json=emb, headers=auth(key))).status_code == 200
        r = await c.post(
            "/v1/messages",
            json={"model": "emb", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
            headers={"x-api-key": key},
        )
        assert r.status_code == 403 and "'messages'" in r.json()["error"]["message"]
        assert (await chat(c, key)).status_code == 404  # the role's models exclude "chat"


async def test_jwt_through_the_gateway(inproc: Start) -> None:
    keys = Keys.make()
    doc = {
        **BASE,
        "auth": {"jwt": [{"issuer": ISSUER, "audience": AUDIENCE, "jwks": keys.public()}]},
        "policies": [{"name": "users-only", "allow_if": 'principal.user == "alice"'}],
    }
    async with inproc(doc) as gw:
        gw.gw.store.create_tenant("acme")
        gw.gw.store.create_app("acme", "bot")
        await gw.gw.refresher.refresh_now()
        c = gw.client
        tok = token(keys, exp=2**31 - 1, iat=None)
        assert (await chat(c, tok)).status_code == 200
        r = await chat(c, token(keys, exp=2**31 - 1, iat=None, sub="bob"))
        assert r.status_code == 403 and "users-only" in r.text
        r = await chat(c, token(keys, exp=1))
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
        r = await c.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer " + "a" * 9000}
        )
        assert r.status_code == 401 and "longer than" in r.text


async def test_client_certificate_header_only_from_trusted_proxies(inproc: Start) -> None:
    doc = {
        **BASE,
        "server": {"trusted_proxies": ["10.0.0.0/8"]},
        "auth": {
            "mtls": {
                "subject_claims": {"tenant": "O", "app": "CN", "user": "UID"},
                "header": "x-forwarded-client-cert",
            }
        },
        "policies": [
            {"name": "mtls-users", "allow_if": 'principal.auth != "mtls" || principal.user == "u1"'}
        ],
    }
    xfcc = 'By=spiffe://gw;Hash=abc;Subject="UID=u1,CN=bot,O=acme";URI=spiffe://client'
    async with inproc(doc) as gw:
        gw.gw.store.create_tenant("acme")
        gw.gw.store.create_app("acme", "bot")
        await gw.gw.refresher.refresh_now()
        async with peer(gw, "10.1.2.3") as proxy:
            r = await proxy.post(
                "/v1/chat/completions", json=CHAT, headers={"x-forwarded-client-cert": xfcc}
            )
            assert r.status_code == 200, r.text
            r = await proxy.post(
                "/v1/chat/completions",
                json=CHAT,
                headers={"x-forwarded-client-cert": "CN=nope,O=acme"},
            )
            assert r.status_code == 401 and "client certificate" in r.text
        async with peer(gw, "198.51.100.1") as direct:  # not a proxy: the header is ignored
            r = await direct.post(
                "/v1/chat/completions", json=CHAT, headers={"x-forwarded-client-cert": xfcc}
            )
            assert r.status_code == 401 and "no credential" in r.json()["error"]["message"]
