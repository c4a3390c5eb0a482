"""``POST /apis/{name}/{version}`` through the whole pipeline, in process."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import orjson
from apis_helpers import SUMMARIZE, World, answer_with, base_config
from click.testing import CliRunner

from lockgate.cli import main
from lockgate.config.models import Config

Start = Callable[..., AbstractAsyncContextManager[World]]


async def test_draft_publish_subscribe_approve_call(world: Start) -> None:
    async with world() as w:
        await w.ok("POST", "/apis", json={"name": "summarize", "tenant": "acme"})
        await w.ok("POST", "/apis/summarize/versions", json=SUMMARIZE)
        r = await w.call("/apis/summarize/v1", {"text": "hi"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "api_not_found"  # a draft
        await w.ok("POST", "/apis/summarize/versions/v1/publish")
        r = await w.call("/apis/summarize/v1", {"text": "hi"})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "subscription_required"
        sub = await w.ok("POST", "/subscriptions", json={"app_id": w.app_id, "api": "summarize"})
        assert sub["status"] == "pending"
        r = await w.call("/apis/summarize/v1", {"text": "hi"})
        assert r.status_code == 403 and "pending approval" in r.json()["error"]["message"]
        await w.ok("POST", f"/subscriptions/{sub['id']}/approve", json={"reason": "ok"})
        r = await w.call("/apis/summarize/v1", {"text": "Lockgate is a gateway."})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["output"] == "Mock reply to: Summarize in 3 sentences: Lockgate is a gateway."
        assert body["model"] == "demo-chat"
        assert body["usage"]["total_tokens"] == (
            body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
        )
        assert r.headers["x-request-id"]
        # "1" and "v1" name the same version; the app's plan need not include the model
        assert (await w.call("/apis/summarize/1", {"text": "x"})).status_code == 200
        total = body["usage"]["total_tokens"]
        assert w.records[-2] == ("summarize", 1, total)  # usage attributed to the API
        assert w.records[-1][:2] == ("summarize", 1)


async def test_inputs_are_data_and_schema_errors_name_the_field(world: Start) -> None:
    async with world() as w:
        await w.publish()
        await w.subscribe()
        for attack in ("{{7*7}}", "{%raw%}x{%endraw%}", "{{''.__class__}}", "{#x#}"):
            r = await w.call("/apis/summarize/v1", {"text": attack})
            assert r.status_code == 200 and r.json()["output"].endswith(attack), r.text
        r = await w.call("/apis/summarize/v1", {"sentences": 2})
        assert r.status_code == 400 and r.json()["error"]["param"] == "text"
        r = await w.call("/apis/summarize/v1", {"text": "x", "sentences": "two"})
        err = r.json()["error"]
        assert r.status_code == 400 and err["param"] == "sentences" and "integer" in err["message"]
        r = await w.call("/apis/summarize/v1", ["not", "an", "object"])
        assert r.status_code == 400
        r = await w.client.post(
            "/apis/summarize/v1", content=b"{nope", headers={"authorization": f"Bearer {w.key}"}
        )
        assert r.status_code == 400 and "not valid JSON" in r.text


async def test_unauthenticated_callers_learn_nothing(world: Start) -> None:
    async with world() as w:
        await w.publish()
        r = await w.client.post("/apis/summarize/v1", json={"text": "x"})
        assert r.status_code == 401
        r = await w.client.post("/apis/nope/v1", json={})
        assert r.status_code == 401
        for path in ("/apis/nope/v1", "/apis/summarize/v9", "/apis/summarize/latest"):
            r = await w.call(path, {"text": "x"})
            assert r.status_code == 404, path
        r = await w.client.get("/apis/summarize/v1", headers={"authorization": f"Bearer {w.key}"})
        assert r.status_code == 405


async def test_streaming_answers_server_sent_events(world: Start) -> None:
    async with world() as w:
        await w.publish()
        await w.subscribe()
        r = await w.call("/apis/summarize/v1", {"text": "stream it", "stream": True})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [block.split("\n", 1) for block in r.text.strip().split("\n\n")]
        names = [e[0] for e in events]
        assert names[-1] == "event: done" and set(names[:-1]) == {"event: delta"}
        text = "".join(orjson.loads(e[1][len("data: ") :])["text"] for e in events[:-1])
        done = orjson.loads(events[-1][1][len("data: ") :])
        assert done["output"] == text == "Mock reply to: Summarize in 3 sentences: stream it"
        assert done["usage"]["output_tokens"] > 0
        assert w.records[-1][:2] == ("summarize", 1)
        r = await w.call("/apis/summarize/v1", {"text": "x", "stream": "yes"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "stream"


async def test_json_output_is_requested_and_checked(world: Start) -> None:
    schema = {
        "type": "object",
        "required": ["label"],
        "properties": {"label": {"enum": ["pos", "neg"]}},
    }
    async with world() as w:
        await w.ok("POST", "/apis", json={"name": "sentiment", "subscription": "auto"})
        version = {"model": "demo-chat", "template": "{{ text }}", "output_schema": schema}
        await w.ok("POST", "/apis/sentiment/versions", json=version)
        await w.ok("POST", "/apis/sentiment/versions/1/publish")
        await w.subscribe("sentiment")
        provider = answer_with(w.gw.gw, "demo-chat", '{"label": "pos"}')
        r = await w.call("/apis/sentiment/v1", {"text": "great"})
        assert r.status_code == 200 and r.json()["output"] == {"label": "pos"}
        fmt = provider.seen[-1].response_format
        assert fmt is not None and fmt.type == "json_schema" and fmt.schema == schema
        r = await w.call("/apis/sentiment/v1", {"text": "great", "stream": True})
        assert r.text.rstrip().endswith(
            '"usage":{"input_tokens":4,"output_tokens":6,"total_tokens":10}}'
        )
        provider.text = '{"label": "meh"}'
        r = await w.call("/apis/sentiment/v1", {"text": "hmm"})
        assert r.status_code == 502 and r.json()["error"]["code"] == "invalid_output"
        assert w.records[-1] == ("sentiment", 1, 10)  # the tokens were spent all the same
        r = await w.call("/apis/sentiment/v1", {"text": "hmm", "stream": True})
        assert "event: error" in r.text and "invalid_output" in r.text


async def test_deprecation_headers_then_retirement(world: Start) -> None:
    async with world() as w:
        await w.publish()
        await w.subscribe()
        await w.ok("POST", "/apis/summarize/versions", json=SUMMARIZE)
        await w.ok("POST", "/apis/summarize/versions/2/publish")
        body = {"sunset": "2099-06-30", "successor": 2}
        v = await w.ok("POST", "/apis/summarize/versions/v1/deprecate", json=body)
        r = await w.call("/apis/summarize/v1", {"text": "x"})
        assert r.status_code == 200
        assert r.headers["deprecation"].startswith("@") and r.headers["deprecation"][1:].isdigit()
        assert r.headers["sunset"] == "Tue, 30 Jun 2099 00:00:00 GMT"
        assert r.headers["link"] == '</apis/summarize/v2>; rel="successor-version"'
        assert v["deprecated_at"] is not None
        assert "deprecation" not in (await w.call("/apis/summarize/v2", {"text": "x"})).headers
        await w.ok("POST", "/apis/summarize/versions/v1/retire")
        r = await w.call("/apis/summarize/v1", {"text": "x"})
        assert r.status_code == 410
        assert r.json()["error"]["code"] == "api_retired" and "v2" in r.json()["error"]["message"]
        assert r.headers["link"] == '</apis/summarize/v2>; rel="successor-version"'


async def test_a_version_past_its_sunset_answers_410(world: Start) -> None:
    now = [1_800_000_000.0]
    async with world(clock=lambda: now[0]) as w:
        await w.publish()
        await w.subscribe()
        await w.ok(
            "POST", "/apis/summarize/versions/v1/deprecate", json={"sunset": "2027-01-15T08:30:00Z"}
        )
        assert (await w.call("/apis/summarize/v1", {"text": "x"})).status_code == 200
        now[0] = 1_800_000_000.0 + 3600  # 2027-01-15T09:00Z: after the sunset
        r = await w.call("/apis/summarize/v1", {"text": "x"})
        assert r.status_code == 410 and "sunset" in r.json()["error"]["message"]
        listed = await w.client.get("/apis", headers={"authorization": f"Bearer {w.key}"})
        assert listed.json()["data"][0]["versions"][0]["status"] == "retired"


async def test_revocation_takes_effect_at_once(world: Start) -> None:
    async with world() as w:
        await w.publish()
        sub = await w.subscribe()
        assert (await w.call("/apis/summarize/v1", {"text": "x"})).status_code == 200
        await w.ok("POST", f"/subscriptions/{sub}/revoke", json={"reason": "misuse"})
        r = await w.call("/apis/summarize/v1", {"text": "x"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "subscription_revoked"
        assert "was revoked" in r.json()["error"]["message"]


async def test_limits_of_the_subscription_plan_and_of_the_app(world: Start) -> None:
    doc = base_config()
    doc["plans"]["narrow"]["limits"] = [{"requests": 3, "per": "minute"}]
    async with world(doc) as w:
        await w.publish()
        sub = await w.subscribe()
        await w.ok("POST", f"/subscriptions/{sub}/revoke")
        sub = (await w.ok("POST", "/subscriptions", json={"app_id": w.app_id, "api": "summarize"}))[
            "id"
        ]
        await w.ok("POST", f"/subscriptions/{sub}/approve", json={"plan": "gold"})
        statuses = [
            (await w.call("/apis/summarize/v1", {"text": "x"})).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        r = await w.call("/apis/summarize/v1", {"text": "x"})
        message = r.json()["error"]["message"]
        assert "subscription to API 'summarize'" in message and "plans.gold.limits[0]" in message
        # the app's own plan limit counts API calls too: 2 used, 1 left for chat
        chat = {"model": "other-chat", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {w.key}"}
        assert (
            await w.client.post("/v1/chat/completions", json=chat, headers=headers)
        ).status_code == 200
        r = await w.client.post("/v1/chat/completions", json=chat, headers=headers)
        assert r.status_code == 429 and "plans.narrow.limits[0]" in r.text


async def test_discovery_lists_what_the_caller_may_call(world: Start) -> None:
    async with world() as w:
        await w.publish()
        await w.ok("POST", "/apis", json={"name": "secret-draft", "tenant": "acme"})
        await w.ok("POST", "/apis/secret-draft/versions", json=SUMMARIZE)
        await w.subscribe()
        headers = {"authorization": f"Bearer {w.key}"}
        r = await w.client.get("/apis", headers=headers)
        [api] = r.json()["data"]
        assert (api["name"], api["subscribed"], api["subscription"]) == (
            "summarize",
            "active",
            "manual",
        )
        assert api["versions"][0]["path"] == "/apis/summarize/v1"
        assert api["versions"][0]["status"] == "published"
        assert (await w.client.get("/apis")).status_code == 401
        doc = (await w.client.get("/apis/summarize/v1/openapi.json", headers=headers)).json()
        op = doc["paths"]["/apis/summarize/v1"]["post"]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert (
            schema["required"] == ["text"] and schema["properties"]["stream"]["type"] == "boolean"
        )
        assert set(op["responses"]) >= {"200", "400", "403", "404", "410"}
        assert doc["openapi"].startswith("3.1") and op["operationId"] == "summarize_v1"
        r = await w.client.get("/apis/secret-draft/v1/openapi.json", headers=headers)
        assert r.status_code == 404


async def test_config_defined_apis_are_served_and_read_only(world: Start) -> None:
    doc = base_config(
        apis={
            "translate": {
                "tenant": "acme",
                "subscription": "auto",
                "versions": [
                    {
                        "version": 1,
                        "model": "demo-chat",
                        "template": "Translate: {{ text }}",
                        "status": "deprecated",
                        "sunset": "2099-01-01",
                        "successor": 2,
                    },
                    {
                        "version": 2,
                        "model": "demo-chat",
                        "template": "Into {{ lang }}: {{ text }}",
                        "system": "You translate to {{ lang }}.",
                        "input_schema": {
                            "type": "object",
                            "properties": {"lang": {"default": "French"}},
                        },
                    },
                ],
            }
        }
    )
    async with world(doc) as w:
        sub = await w.ok("POST", "/subscriptions", json={"app_id": w.app_id, "api": "translate"})
        assert sub["status"] == "active"  # auto
        r = await w.call("/apis/translate/v2", {"text": "hello"})
        assert r.status_code == 200 and r.json()["output"] == "Mock reply to: Into French: hello"
        r = await w.call("/apis/translate/v1", {"text": "hello"})
        assert r.status_code == 200 and r.headers["sunset"] == "Thu, 01 Jan 2099 00:00:00 GMT"
        api = await w.ok("GET", "/apis/translate")
        assert api["source"] == "config" and [v["status"] for v in api["versions"]] == [
            "deprecated",
            "published",
        ]
        for method, path in (
            ("PATCH", "/apis/translate"),
            ("POST", "/apis/translate/versions/2/retire"),
            ("DELETE", "/apis/translate"),
        ):
            r = await w.admin(method, path, json={})
            assert r.status_code == 403 and r.json()["error"]["code"] == "read_only", (method, path)
        r = await w.admin("POST", "/apis", json={"name": "translate"})
        assert r.status_code == 409


async def test_an_api_whose_model_is_gone_answers_503(world: Start) -> None:
    async with world() as w:
        await w.publish()
        await w.subscribe()
        del w.gw.gw.runtime.models["demo-chat"]
        r = await w.call("/apis/summarize/v1", {"text": "x"})
        assert r.status_code == 503 and "demo-chat" in r.json()["error"]["message"]


async def test_a_config_reload_changes_the_config_apis(world: Start) -> None:
    async with world() as w:
        r = await w.call("/apis/echo/v1", {"text": "x"})
        assert r.status_code == 404
        echo = {
            "version": 1,
            "model": "demo-chat",
            "template": "{{ text }}",
            "subscription": "auto",
        }
        doc = base_config(apis={"echo": echo})
        storage = w.gw.gw.config.storage
        await w.gw.gw.apply_config(Config.model_validate({"version": 1, "storage": storage, **doc}))
        await w.subscribe("echo")
        r = await w.call("/apis/echo/v1", {"text": "reloaded"})
        assert r.status_code == 200 and r.json()["output"] == "Mock reply to: reloaded"


async def test_usage_records_name_the_api_and_version(world: Start) -> None:
    async with world() as w:
        await w.publish()
        await w.subscribe()
        await w.ok("POST", "/apis/summarize/versions", json=SUMMARIZE)
        await w.ok("POST", "/apis/summarize/versions/2/publish")
        sizes = []
        for path in ("/apis/summarize/v1", "/apis/summarize/v1", "/apis/summarize/v2"):
            sizes.append((await w.call(path, {"text": "Printer out of toner."})).json()["usage"])
        chat = {"model": "other-chat", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {w.key}"}
        assert (
            await w.client.post("/v1/chat/completions", json=chat, headers=headers)
        ).status_code == 200
        await w.gw.gw.obs.flush()
        rows = (await w.ok("GET", "/requests?api=summarize"))["rows"]
        assert sorted((r["api"], r["api_version"]) for r in rows) == [
            ("summarize", 1),
            ("summarize", 1),
            ("summarize", 2),
        ]
        assert {r["model"] for r in rows} == {"demo-chat"} and {r["app"] for r in rows} == {
            w.app_id
        }
        usage = (await w.ok("GET", "/usage?group_by=api,app"))["rows"]
        by_api = {r["api"]: r for r in usage}
        assert by_api["summarize"]["requests"] == 3
        total = sum(u["input_tokens"] + u["output_tokens"] for u in sizes)
        assert by_api["summarize"]["input_tokens"] + by_api["summarize"]["output_tokens"] == total
        assert by_api[None]["requests"] == 1  # the plain chat call
        only = (await w.ok("GET", "/usage?api=summarize&group_by=model"))["rows"]
        assert [(r["model"], r["requests"]) for r in only] == [("demo-chat", 3)]
        # the usage CLI takes the same filter
        storage = w.gw.gw.config.storage
        args = ["usage", "--storage", storage, "--api", "summarize", "--group-by", "api", "--json"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert '"api": "summarize"' in result.output and '"requests": 3' in result.output


async def test_decisions_are_in_the_audit_log(world: Start) -> None:
    async with world() as w:
        await w.publish()
        sub = await w.ok("POST", "/subscriptions", json={"app_id": w.app_id, "api": "summarize"})
        await w.ok("POST", f"/subscriptions/{sub['id']}/approve", json={"reason": "welcome"})
        await w.ok("POST", f"/subscriptions/{sub['id']}/revoke", json={"reason": "misuse"})
        await w.gw.gw.obs.flush()
        rows = (await w.ok("GET", "/audit"))["rows"]
        mine = [r for r in reversed(rows) if sub["id"] in str(r)]
        assert [r["action"] for r in mine] == [
            "request_subscription",
            "approve_subscription",
            "revoke_subscription",
        ]
        assert [r["after"]["status"] for r in mine] == ["pending", "active", "revoked"]
        assert mine[2]["details"]["request"] == {"reason": "misuse"}
