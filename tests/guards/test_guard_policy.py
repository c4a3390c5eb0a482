"""Guards through the gateway: blocks in each route's envelope (and nothing of a blocked prompt
reaching the upstream), input and output redaction (streams included), flags, decisions on
the request's record, and no state kept for requests no guard covers."""

from __future__ import annotations

from typing import Any

import orjson
from guard_helpers import Upstream

from lockgate.pipeline.context import RequestContext
from lockgate.wire.openai import encode_chat_response
from lockgate.wire.openai_passthrough import OPENAI_PASSTHROUGH
from lockgate.wire.passthrough import RawReply
from lockgate.wire.types import ChatResponse, TextPart, Usage

SECRET = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"


def config(up: Upstream, guards: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return {
        "providers": up.providers(),
        "models": {
            "chat": {"deployments": [{"provider": "oai", "model": "gpt-x"}]},
            "claude": {"deployments": [{"provider": "claude", "model": "claude-x"}]},
        },
        "policies": [{"name": "pii-eu", "match": match or None, "guards": guards}],
    }


def chat(text: str, model: str = "chat", stream: bool = False) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def sse_text(raw: bytes) -> str:
    out = []
    for line in raw.split(b"\n"):
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        event = orjson.loads(line[6:])
        if "choices" in event:
            out.append((event["choices"] or [{}])[0].get("delta", {}).get("content") or "")
        elif event.get("type") == "content_block_delta":
            out.append(event["delta"].get("text", ""))
    return "".join(out)


async def test_a_blocked_prompt_never_reaches_the_upstream_on_either_route(
    inproc: Any, upstream: Upstream
) -> None:
    guards = [{"type": "secrets", "on": ["input"], "action": "block"}]
    async with inproc(config(upstream, guards)) as gw:
        auth = {"authorization": f"Bearer {await gw.key()}"}
        r = await gw.client.post("/v1/chat/completions", json=chat(f"use {SECRET}"), headers=auth)
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["code"] == "content_policy_violation"
        assert err["type"] == "invalid_request_error"
        assert "policy 'pii-eu' guard 'secrets'" in err["message"]
        assert SECRET not in r.text and "sk-ant" not in r.text
        r = await gw.client.post("/v1/messages", json=chat(f"use {SECRET}", "claude"), headers=auth)
        assert r.status_code == 400
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert "guard 'secrets'" in body["error"]["message"] and SECRET not in r.text
        assert upstream.requests == 0
        r = await gw.client.post("/v1/chat/completions", json=chat("fine"), headers=auth)
        assert r.status_code == 200 and upstream.requests == 1


async def test_input_redaction_is_what_the_upstream_receives(
    inproc: Any, upstream: Upstream
) -> None:
    guards = [{"type": "pii", "on": ["input"], "action": "redact"}]
    seen: list[RequestContext] = []
    async with inproc(config(upstream, guards, tenants=["acme"])) as gw:
        gw.gw.finalizer.recorders.append(seen.append)
        auth = {"authorization": f"Bearer {await gw.key('acme')}"}
        text = "I am bob@example.com, card 4111 1111 1111 1111"
        for path, model in (("/v1/chat/completions", "chat"), ("/v1/messages", "claude")):
            r = await gw.client.post(path, json=chat(text, model), headers=auth)
            assert r.status_code == 200
            sent = orjson.dumps(upstream.last_body()).decode()
            assert "bob@example.com" not in sent and "4111" not in sent
            assert "[REDACTED:EMAIL]" in sent and "[REDACTED:CREDIT_CARD]" in sent
        decision = seen[0].guard_decisions[0]
        assert decision.as_dict() == {
            "policy": "pii-eu",
            "guard": "pii",
            "type": "pii",
            "side": "input",
            "action": "redact",
            "entities": {"CREDIT_CARD": 1, "EMAIL": 1},
        }
        other = {"authorization": f"Bearer {await gw.key('globex')}"}
        await gw.client.post("/v1/chat/completions", json=chat(text), headers=other)
        assert "bob@example.com" in orjson.dumps(upstream.last_body()).decode()
        assert seen[-1].guard_decisions == () and seen[-1].kept == []


async def test_output_redaction_in_responses_and_streams(inproc: Any, upstream: Upstream) -> None:
    # on output only: the mock echoes the prompt, so the PII comes back in the answer
    guards = [{"type": "pii", "on": ["output"], "action": "redact", "entities": ["email"]}]
    async with inproc(config(upstream, guards)) as gw:
        auth = {"authorization": f"Bearer {await gw.key()}"}
        text = "reach me at carol.jones@example.org or dave@example.net soon"
        r = await gw.client.post("/v1/chat/completions", json=chat(text), headers=auth)
        answer = r.json()["choices"][0]["message"]["content"]
        assert "example" not in answer and answer.count("[REDACTED:EMAIL]") == 2
        assert "carol.jones@example.org" in orjson.dumps(upstream.last_body()).decode()
        for path, model in (("/v1/chat/completions", "chat"), ("/v1/messages", "claude")):
            r = await gw.client.post(path, json=chat(text, model, stream=True), headers=auth)
            streamed = sse_text(r.content)
            assert streamed.endswith("reach me at [REDACTED:EMAIL] or [REDACTED:EMAIL] soon")
            assert b"example" not in r.content


async def test_output_block_ends_the_stream_with_an_error_event(
    inproc: Any, upstream: Upstream
) -> None:
    guards = [{"type": "deny", "on": ["output"], "patterns": [r"(?i)project\s+falcon"]}]
    async with inproc(config(upstream, guards)) as gw:
        auth = {"authorization": f"Bearer {await gw.key()}"}
        text = "tell me about Project Falcon please"
        r = await gw.client.post("/v1/chat/completions", json=chat(text), headers=auth)
        assert r.status_code == 400 and r.json()["error"]["code"] == "content_policy_violation"
        assert "Falcon" not in r.text
        r = await gw.client.post("/v1/chat/completions", json=chat(text, stream=True), headers=auth)
        assert b"content_policy_violation" in r.content and b"Falcon" not in r.content


async def test_flag_only_records(inproc: Any, upstream: Upstream) -> None:
    guards = [{"type": "secrets", "action": "flag"}]
    seen: list[RequestContext] = []
    async with inproc(config(upstream, guards)) as gw:
        gw.gw.finalizer.recorders.append(seen.append)
        auth = {"authorization": f"Bearer {await gw.key()}"}
        r = await gw.client.post("/v1/chat/completions", json=chat(f"k {SECRET}"), headers=auth)
        assert r.status_code == 200 and SECRET in orjson.dumps(upstream.last_body()).decode()
        [d] = seen[0].guard_decisions
        assert (d.action, d.entities) == ("flag", (("ANTHROPIC_KEY", 1),))


async def test_schema_is_repaired_once_then_502(inproc: Any, upstream: Upstream) -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    body = chat("give me n")
    body["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "num", "schema": schema},
    }
    seen: list[RequestContext] = []
    async with inproc(config(upstream, [{"type": "schema"}])) as gw:
        gw.gw.finalizer.recorders.append(seen.append)
        auth = {"authorization": f"Bearer {await gw.key()}"}
        r = await gw.client.post("/v1/chat/completions", json=body, headers=auth)
        assert r.status_code == 502, r.text
        err = r.json()["error"]
        assert err["code"] == "response_format_violation" and "'num'" in err["message"]
        assert "not JSON" in err["message"] and "guard 'schema'" in err["message"]
        assert upstream.requests == 2  # the answer, and one repair request
        provider = gw.gw.runtime.providers["oai"]
        answers = iter(['{"n": "three"}', '{"n": 3}'])

        async def reply(req: Any, model: str, timeouts: Any) -> ChatResponse:
            return ChatResponse(
                id="r", model=model, content=[TextPart(next(answers))], usage=Usage(5, 5)
            )

        async def reply_raw(body: Any, model: str, timeouts: Any, *_: Any) -> RawReply:
            # The first call sends the client's own body (same format), the repair does not.
            answer = encode_chat_response(await reply(None, model, timeouts), model=model)
            return RawReply(orjson.loads(answer), OPENAI_PASSTHROUGH, answer)

        provider.chat = reply
        provider.chat_passthrough = reply_raw
        r = await gw.client.post("/v1/chat/completions", json=body, headers=auth)
        assert r.status_code == 200
        assert orjson.loads(r.json()["choices"][0]["message"]["content"]) == {"n": 3}
        assert seen[-1].guard_decisions[0].action == "repair"
        assert seen[-1].usage == Usage(10, 10)  # both calls are accounted for


async def test_embedding_inputs_are_redacted_before_the_provider(
    inproc: Any, upstream: Upstream
) -> None:
    doc = config(upstream, [{"type": "pii", "action": "redact", "entities": ["email"]}])
    doc["models"]["emb"] = {"kind": "embedding", "deployments": [{"provider": "oai", "model": "e"}]}
    async with inproc(doc) as gw:
        auth = {"authorization": f"Bearer {await gw.key()}"}
        payload = {"model": "emb", "input": ["write to ann@example.com", "nothing here"]}
        r = await gw.client.post("/v1/embeddings", json=payload, headers=auth)
        assert r.status_code == 200
        assert upstream.last_body()["input"] == ["write to [REDACTED:EMAIL]", "nothing here"]


async def test_match_routes_and_tenant_qualified_apps(inproc: Any, upstream: Upstream) -> None:
    guards = [{"type": "secrets", "action": "block"}]
    doc = config(upstream, guards, routes=["messages"], apps=["acme/bot"])
    async with inproc(doc) as gw:
        acme = {"authorization": f"Bearer {await gw.key('acme', 'bot')}"}
        other = {"authorization": f"Bearer {await gw.key('globex', 'bot')}"}
        text = f"k {SECRET}"
        r = await gw.client.post("/v1/messages", json=chat(text, "claude"), headers=acme)
        assert r.status_code == 400  # the rule's route and app
        r = await gw.client.post("/v1/chat/completions", json=chat(text), headers=acme)
        assert r.status_code == 200  # another route
        r = await gw.client.post("/v1/messages", json=chat(text, "claude"), headers=other)
        assert r.status_code == 200  # an app of the same name in another tenant
