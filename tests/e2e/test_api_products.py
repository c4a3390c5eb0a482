"""API products end to end over HTTP against a running gateway: a tenant publishes an API,
another tenant's developer subscribes an app, the owner's tenant-admin approves it, the app
calls it (limits and usage attributed to the API), then deprecation and retirement; webhooks
announce every decision; the CLI works against the same gateway."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from harness import ADMIN_KEY, Proc, admin, start_gateway

from lockgate.cli import main

V1 = {
    "model": "m",
    "template": "Summarize in {{ sentences }} sentences: {{ text }}",
    "input_schema": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string"}, "sentences": {"type": "integer", "default": 3}},
    },
}


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, hooks: tuple[str, list[dict[str, Any]]]
) -> Iterator[Proc]:
    tmp: Path = tmp_path_factory.mktemp("apis")
    config = f"""
version: 1
server: {{admin_keys: ["${{env:LOCKGATE_ADMIN_KEY}}"]}}
storage: sqlite:///{tmp / "apis.db"}
providers: {{demo: {{type: mock}}}}
models: {{m: {{deployments: [{{provider: demo, model: demo-chat}}]}}}}
plans:
  gold: {{limits: [{{requests: 3, per: minute}}]}}
alerts:
  webhooks: [{{url: "{hooks[0]}", events: ["subscription.*"]}}]
"""
    proc, _ = start_gateway(tmp, config)
    try:
        yield proc
    finally:
        proc.stop()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_the_whole_lifecycle(gateway: Proc, hooks: tuple[str, list[dict[str, Any]]]) -> None:
    base = gateway.base
    with admin(base) as root, httpx.Client(base_url=base, timeout=10) as c:
        keys = {}
        for tenant, role in (
            ("acme", "tenant-admin"),
            ("globex", "developer"),
            ("initech", "tenant-admin"),
        ):
            assert root.post("/tenants", json={"name": tenant}).status_code == 201
            r = root.post("/admin-keys", json={"role": role, "tenant": tenant})
            keys[tenant] = bearer(r.json()["key"])
        owner, dev, stranger = keys["acme"], keys["globex"], keys["initech"]

        # acme drafts "summarize"; a draft is invisible outside acme
        assert (
            c.post("/admin/v1/apis", headers=owner, json={"name": "summarize"}).status_code == 201
        )
        assert (
            c.post("/admin/v1/apis/summarize/versions", headers=owner, json=V1).status_code == 201
        )
        app = c.post("/admin/v1/tenants/globex/apps", headers=dev, json={"name": "helpdesk"}).json()
        key = bearer(c.post(f"/admin/v1/apps/{app['id']}/keys", headers=dev, json={}).json()["key"])
        assert c.get("/apis", headers=key).json()["data"] == []
        assert c.post("/apis/summarize/v1", headers=key, json={"text": "x"}).status_code == 404
        assert c.get("/admin/v1/apis/summarize", headers=dev).status_code == 404

        # publish; the developer asks for access; 403 while pending
        assert (
            c.post("/admin/v1/apis/summarize/versions/v1/publish", headers=owner).status_code == 200
        )
        assert [a["name"] for a in c.get("/apis", headers=key).json()["data"]] == ["summarize"]
        body = {"app_id": app["id"], "api": "summarize", "reason": "ticket summaries"}
        sub = c.post("/admin/v1/subscriptions", headers=dev, json=body).json()
        assert sub["status"] == "pending"
        r = c.post("/apis/summarize/v1", headers=key, json={"text": "x"})
        assert r.status_code == 403 and "pending approval" in r.json()["error"]["message"]

        # only acme's admins decide: another tenant's admin gets 404, the developer 403
        approve = f"/admin/v1/subscriptions/{sub['id']}/approve"
        assert c.post(approve, headers=stranger, json={}).status_code == 404
        assert c.post(approve, headers=dev, json={}).status_code == 403
        r = c.post(approve, headers=owner, json={"reason": "welcome", "plan": "gold"})
        assert r.status_code == 200 and r.json()["status"] == "active"

        # the app calls it
        r = c.post("/apis/summarize/v1", headers=key, json={"text": "Printer on fire."})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["output"] == "Mock reply to: Summarize in 3 sentences: Printer on fire."
        assert out["model"] == "m" and out["usage"]["total_tokens"] > 0
        assert r.headers["x-ratelimit-limit-requests"] == "3"
        # template injection is rendered literally; schema errors name the field
        r = c.post("/apis/summarize/v1", headers=key, json={"text": "{{7*7}}{%raw%}"})
        assert r.json()["output"].endswith("{{7*7}}{%raw%}")
        r = c.post("/apis/summarize/v1", headers=key, json={"text": "x", "sentences": "many"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "sentences"
        r = c.post("/apis/summarize/v1", headers=key, json={"text": "x", "stream": True})
        assert r.text.startswith("event: delta") and "event: done" in r.text
        # the subscription's plan limits this app on this API: 3 calls a minute
        r = c.post("/apis/summarize/v1", headers=key, json={"text": "x"})
        assert r.status_code == 429
        assert "subscription to API 'summarize'" in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) >= 1

        # deprecation, then retirement
        v2 = c.post("/admin/v1/apis/summarize/versions", headers=owner, json=V1).json()
        c.post(f"/admin/v1/apis/summarize/versions/{v2['version']}/publish", headers=owner)
        dep = {"sunset": "2099-12-31", "successor": 2}
        assert (
            c.post(
                "/admin/v1/apis/summarize/versions/v1/deprecate", headers=owner, json=dep
            ).status_code
            == 200
        )
        r = c.post("/apis/summarize/v1", headers=key, json={"text": "x"})
        assert r.headers["deprecation"].startswith("@")
        assert r.headers["sunset"] == "Thu, 31 Dec 2099 00:00:00 GMT"
        assert (
            c.post("/admin/v1/apis/summarize/versions/v1/retire", headers=owner).status_code == 200
        )
        r = c.post("/apis/summarize/v1", headers=key, json={"text": "x"})
        assert r.status_code == 410 and "/apis/summarize/v2" in r.json()["error"]["message"]

        # the CLI against the same gateway, with the owner's admin key
        acme_key = owner["authorization"].split()[1]
        result = CliRunner().invoke(
            main, ["subscriptions", "list", "--url", base, "--admin-key", acme_key, "--json"]
        )
        assert result.exit_code == 0, result.output
        assert [s["id"] for s in json.loads(result.stdout)] == [sub["id"]]
        revoke = ["subscriptions", "revoke", sub["id"], "--reason", "project ended"]
        result = CliRunner().invoke(main, [*revoke, "--url", base, "--admin-key", acme_key])
        assert result.exit_code == 0, result.output
        r = c.post("/apis/summarize/v2", headers=key, json={"text": "x"})
        assert r.status_code == 403 and "was revoked" in r.json()["error"]["message"]

    # every decision was announced once
    events = _wait_for(hooks[1], 3)
    assert [e["event"] for e in events] == [
        "subscription.requested",
        "subscription.approved",
        "subscription.revoked",
    ]
    assert events[1]["data"]["reason"] == "welcome" and events[1]["data"]["plan"] == "gold"
    assert events[2]["data"]["reason"] == "project ended" and ADMIN_KEY not in json.dumps(events)


def _wait_for(received: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(received) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return sorted(received, key=lambda e: e["data"]["at"])
