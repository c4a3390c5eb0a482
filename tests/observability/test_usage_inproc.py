"""Usage records end to end in one process: every call recorded, rolled up, and queried."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from lockgate.store.usage_tables import PICO

ADMIN = "lga-usage-test-admin-key-0123456789abcdef"
PRICE = {"input": 1.5, "output": 6.0}
CONFIG: dict[str, Any] = {
    "providers": {"demo": {"type": "mock"}},
    "models": {
        "m": {"deployments": [{"provider": "demo", "model": "x"}], "price": PRICE},
        "e": {"kind": "embedding", "deployments": [{"provider": "demo", "model": "emb"}]},
    },
    "observability": {"request_log": "off"},
}
Start = Callable[..., AbstractAsyncContextManager[Any]]


def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


async def test_calls_are_recorded_and_totals_match_reported_usage(inproc: Start) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        key = await gw.key("acme", "bot")
        auth = {"authorization": f"Bearer {key}"}
        seen = []
        r = await gw.client.post("/v1/chat/completions", headers=auth, json=chat("hello there"))
        assert r.status_code == 200
        seen.append(r.json()["usage"])
        r = await gw.client.post(
            "/v1/chat/completions",
            headers=auth,
            json=chat("stream me", stream=True, stream_options={"include_usage": True}),
        )
        usage_line = [x for x in r.text.split("\n") if x.startswith("data: {") and '"usage":{' in x]
        seen.append(orjson.loads(usage_line[-1][6:])["usage"])
        r = await gw.client.post(
            "/v1/chat/completions", headers=auth, json={**chat("x"), "model": "nope"}
        )
        assert r.status_code == 404
        r = await gw.client.post("/v1/chat/completions", json=chat("no key"))
        assert r.status_code == 401
        await gw.gw.obs.flush()

        r = await gw.client.get(
            "/admin/v1/usage", headers=admin(), params={"group_by": "tenant,model"}
        )
        assert r.status_code == 200, r.text
        rows = {(row["tenant"], row["model"]): row for row in r.json()["rows"]}
        ok = rows[("acme", "m")]
        assert ok["requests"] == 2
        assert ok["input_tokens"] == sum(u["prompt_tokens"] for u in seen)
        assert ok["output_tokens"] == sum(u["completion_tokens"] for u in seen)
        expected = sum(
            round((u["prompt_tokens"] * 1.5 + u["completion_tokens"] * 6.0) * 1e-6 * PICO)
            for u in seen
        )
        assert ok["cost"] == expected / PICO
        assert rows[("acme", "nope")]["requests"] == 1  # rejected calls count too
        assert rows[(None, None)]["requests"] == 1  # the unauthenticated one

        r = await gw.client.get("/admin/v1/requests", headers=admin(), params={"status": "4xx"})
        failed = r.json()["rows"]
        assert {(x["status"], x["decided_by"]) for x in failed} == {
            (404, "model-access"),
            (401, "authn"),
        }
        r = await gw.client.get("/admin/v1/requests", headers=admin(), params={"limit": 1})
        page = r.json()
        assert len(page["rows"]) == 1 and page["next_cursor"]
        r = await gw.client.get(
            "/admin/v1/requests",
            headers=admin(),
            params={"limit": 10, "cursor": page["next_cursor"]},
        )
        assert len(r.json()["rows"]) == 3
        streamed = [x for x in r.json()["rows"] + page["rows"] if x["status"] == 200]
        assert all(x["usage_source"] == "provider" and x["ttft_ms"] is not None for x in streamed)
        assert all(x["deployment"] == "demo/x" and x["attempts"] == 1 for x in streamed)


async def test_partial_hours_come_from_records_whole_hours_from_rollups(inproc: Start) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        key = await gw.key("acme", "bot")
        for _ in range(3):
            await gw.client.post(
                "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=chat("hi")
            )
        await gw.gw.obs.flush()
        now = datetime.now(UTC)
        ranges = [
            (now - timedelta(hours=3), now + timedelta(minutes=1)),  # rollups + edges
            (now - timedelta(seconds=30), now + timedelta(seconds=30)),  # inside one hour
            (now.replace(minute=0, second=0, microsecond=0), now + timedelta(hours=2)),
        ]
        for start, end in ranges:
            r = await gw.client.get(
                "/admin/v1/usage",
                headers=admin(),
                params={"from": start.isoformat(), "to": end.isoformat(), "group_by": "hour"},
            )
            assert sum(row["requests"] for row in r.json()["rows"]) == 3, (start, end)
        r = await gw.client.get(
            "/admin/v1/usage", headers=admin(), params={"group_by": "day", "format": "csv"}
        )
        lines = r.text.strip().splitlines()
        assert r.headers["content-type"].startswith("text/csv")
        assert lines[0].startswith("day,requests,errors,input_tokens")
        assert lines[1].split(",")[1] == "3"


async def test_tenant_scoped_admin_keys_see_their_tenant_only(inproc: Start) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        for tenant in ("acme", "globex"):
            key = await gw.key(tenant, "bot")
            await gw.client.post(
                "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=chat("x")
            )
        await gw.gw.obs.flush()
        r = await gw.client.post(
            "/admin/v1/admin-keys", headers=admin(), json={"role": "tenant-admin", "tenant": "acme"}
        )
        scoped = {"authorization": f"Bearer {r.json()['key']}"}
        await gw.gw.refresher.refresh_now()
        r = await gw.client.get("/admin/v1/usage", headers=scoped, params={"group_by": "tenant"})
        assert [row["tenant"] for row in r.json()["rows"]] == ["acme"]
        r = await gw.client.get("/admin/v1/usage", headers=scoped, params={"tenant": "globex"})
        assert r.status_code == 404
        r = await gw.client.get("/admin/v1/requests", headers=scoped)
        assert {row["tenant"] for row in r.json()["rows"]} == {"acme"}
        rid = r.json()["rows"][0]["id"]
        assert (await gw.client.get(f"/admin/v1/requests/{rid}", headers=scoped)).status_code == 200
        r = await gw.client.get("/admin/v1/requests", headers=admin(), params={"tenant": "globex"})
        other = r.json()["rows"][0]["id"]
        assert (
            await gw.client.get(f"/admin/v1/requests/{other}", headers=scoped)
        ).status_code == 404
        r = await gw.client.get("/admin/v1/audit", headers=scoped)
        assert r.status_code == 200
        assert all(row["tenant"] == "acme" for row in r.json()["rows"])
        r = await gw.client.get("/admin/v1/usage", headers=admin(), params={"group_by": "tenant"})
        assert [row["tenant"] for row in r.json()["rows"]] == ["acme", "globex"]


async def test_opted_in_tenants_have_their_payloads_stored(inproc: Start) -> None:
    doc = {**CONFIG, "observability": {"payloads": {"tenants": ["acme"], "max_bytes": 64}}}
    async with inproc(doc, extra_admin_keys=(ADMIN,)) as gw:
        ids = {}
        for tenant in ("acme", "globex"):
            key = await gw.key(tenant, "bot")
            r = await gw.client.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json=chat("remember this sentence " * 10),
            )
            ids[tenant] = r.headers["x-request-id"]
        await gw.gw.obs.flush()
        r = await gw.client.get(f"/admin/v1/requests/{ids['acme']}", headers=admin())
        payload = r.json()["payload"]
        assert payload["request"].startswith('{"model":"m"')
        assert payload["request"].endswith("[truncated]")
        assert payload["response"].startswith("Mock reply to: remember")
        r = await gw.client.get(f"/admin/v1/requests/{ids['globex']}", headers=admin())
        assert "payload" not in r.json()


async def test_a_stopped_store_fails_no_request_and_loses_no_record(inproc: Start) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        key = await gw.key("acme", "bot")
        writer = gw.gw.obs.writer
        real = writer._write
        down = True

        def write(rows: Any, payloads: Any, retry: bool) -> int:
            if down:
                raise ConnectionError("the store is stopped")
            return int(real(rows, payloads, retry))

        writer._write = write
        auth = {"authorization": f"Bearer {key}"}
        for i in range(20):
            r = await gw.client.post("/v1/chat/completions", headers=auth, json=chat(f"q{i}"))
            assert r.status_code == 200
        writer.pump()
        with pytest.raises(ConnectionError):
            await writer.flush()
        assert writer.backlog == 20 and writer.failures >= 1
        down = False
        await gw.gw.obs.flush()
        r = await gw.client.get("/admin/v1/usage", headers=admin(), params={"group_by": "tenant"})
        assert r.json()["rows"][0]["requests"] == 20
        assert writer.total_dropped == 0 and writer.written == writer.kept == 20


@pytest.mark.parametrize("path", ["/admin/v1/audit", "/admin/v1/usage", "/admin/v1/requests"])
async def test_an_out_of_range_cursor_is_a_400(inproc: Start, path: str) -> None:
    doc = {**CONFIG, "server": {"admin_keys": [ADMIN]}}
    async with inproc(doc) as gw:
        for cursor in ("36893488147419103232", "-5", "x"):
            r = await gw.client.get(path, params={"cursor": cursor}, headers=admin())
            assert r.status_code == 400, (path, cursor, r.text)


async def test_a_developer_key_sees_the_usage_of_its_own_apps_only(inproc: Start) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        other_key = await gw.key("acme", "platform-app")  # an app the developer did not create
        r = await gw.client.post(
            "/admin/v1/admin-keys", headers=admin(), json={"role": "developer", "tenant": "acme"}
        )
        dev = {"authorization": f"Bearer {r.json()['key']}"}
        await gw.gw.refresher.refresh_now()
        mine = (
            await gw.client.post(
                "/admin/v1/tenants/acme/apps", headers=dev, json={"name": "dev-app"}
            )
        ).json()["id"]
        key = (await gw.client.post(f"/admin/v1/apps/{mine}/keys", headers=dev, json={})).json()
        await gw.gw.refresher.refresh_now()
        for k in (key["key"], other_key):
            r = await gw.client.post(
                "/v1/chat/completions", headers={"authorization": f"Bearer {k}"}, json=chat("x")
            )
            assert r.status_code == 200
        await gw.gw.obs.flush()
        r = await gw.client.get("/admin/v1/usage", headers=dev, params={"group_by": "app"})
        assert [row["app"] for row in r.json()["rows"]] == [mine]
        rows = (await gw.client.get("/admin/v1/requests", headers=dev)).json()["rows"]
        assert {row["app"] for row in rows} == {mine}
        everyone = (await gw.client.get("/admin/v1/requests", headers=admin())).json()["rows"]
        theirs = next(row["id"] for row in everyone if row["app"] != mine)
        assert (await gw.client.get(f"/admin/v1/requests/{theirs}", headers=dev)).status_code == 404
        assert (
            await gw.client.get(f"/admin/v1/requests/{rows[0]['id']}", headers=dev)
        ).status_code == 200
        other_app = next(row["app"] for row in everyone if row["app"] != mine)
        r = await gw.client.get("/admin/v1/usage", headers=dev, params={"app": other_app})
        assert r.status_code == 404
