"""The data plane honours the pipeline contract: replies, replaced requests, response and
chunk hooks, and completion — on both ingress formats, streaming and not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

import orjson

from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase, Reply
from lockgate.pipeline.runner import Pipeline
from lockgate.wire.types import ChatResponse, Chunk, Message, TextDelta, TextPart, Usage

CONFIG = {
    "providers": {"demo": {"type": "mock"}},
    "models": {
        "chat": {
            "kind": "chat",
            "deployments": [{"provider": "demo", "model": "x"}],
            "price": {"input": 1.0, "output": 2.0},
        },
        "emb": {
            "kind": "embedding",
            "deployments": [{"provider": "demo", "model": "e"}],
            "price": {"input": 0.5},
        },
    },
}
CANNED = ChatResponse(
    id="canned-1",
    model="chat",
    content=[TextPart("from the cache")],
    usage=Usage(input_tokens=3, output_tokens=4),
)


class Answering:
    name: ClassVar[str] = "answering"
    phase: ClassVar[Phase] = Phase.CACHE

    async def on_request(self, ctx: RequestContext) -> object:
        return Reply(chat=CANNED, headers=[(b"x-lockgate-cache", b"hit")])


class Rewriting:
    """Replaces the prompt (as a redactor would) and upper-cases the answer."""

    name: ClassVar[str] = "rewriting"
    phase: ClassVar[Phase] = Phase.GUARD

    def __init__(self) -> None:
        self.completed: list[tuple[str, object]] = []

    async def on_request(self, ctx: RequestContext) -> object:
        assert ctx.chat is not None
        ctx.chat = replace(ctx.chat, messages=[Message("user", [TextPart("replaced words")])])
        return "mine"

    async def on_response(self, ctx: RequestContext, state: object, resp: Any) -> Any:
        return replace(resp, content=[TextPart(resp.text().upper())])

    def on_chunk(self, ctx: RequestContext, state: object, chunk: Chunk) -> list[Chunk]:
        return [TextDelta(chunk.text.upper())] if isinstance(chunk, TextDelta) else [chunk]

    def on_complete(self, ctx: RequestContext, state: object) -> None:
        self.completed.append((ctx.request_id, state))


def install(gw: Any, policy: object) -> None:
    runtime = gw.gw.runtime
    runtime.pipeline = Pipeline([*runtime.pipeline.policies, policy])


def chat_body(stream: bool = False) -> dict[str, Any]:
    return {
        "model": "chat",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": stream,
    }


def sse_text(raw: bytes, field: Callable[[dict[str, Any]], str | None]) -> str:
    out = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            out.append(field(orjson.loads(line[6:])) or "")
    return "".join(out)


def openai_delta(event: dict[str, Any]) -> str | None:
    choices = event.get("choices") or [{}]
    return choices[0].get("delta", {}).get("content")


def anthropic_delta(event: dict[str, Any]) -> str | None:
    return (
        event.get("delta", {}).get("text") if event.get("type") == "content_block_delta" else None
    )


async def test_a_reply_answers_without_the_provider_in_both_formats(inproc: Any) -> None:
    async with inproc(CONFIG) as gw:
        key = await gw.key()
        install(gw, Answering())
        auth = {"authorization": f"Bearer {key}"}
        r = await gw.client.post("/v1/chat/completions", json=chat_body(), headers=auth)
        assert r.status_code == 200 and r.headers["x-lockgate-cache"] == "hit"
        assert r.json()["choices"][0]["message"]["content"] == "from the cache"
        r = await gw.client.post("/v1/chat/completions", json=chat_body(True), headers=auth)
        assert sse_text(r.content, openai_delta) == "from the cache"
        body = {**chat_body(True), "max_tokens": 50}
        r = await gw.client.post("/v1/messages", json=body, headers=auth)
        assert r.headers["content-type"].startswith("text/event-stream")
        assert sse_text(r.content, anthropic_delta) == "from the cache"


async def test_replaced_request_and_response_hooks_are_honoured(inproc: Any) -> None:
    async with inproc(CONFIG) as gw:
        key = await gw.key()
        policy = Rewriting()
        install(gw, policy)
        auth = {"authorization": f"Bearer {key}"}
        r = await gw.client.post("/v1/chat/completions", json=chat_body(), headers=auth)
        # the mock quotes the prompt it received: the replaced one, upper-cased on the way out
        assert r.json()["choices"][0]["message"]["content"] == "MOCK REPLY TO: REPLACED WORDS"
        r = await gw.client.post("/v1/chat/completions", json=chat_body(True), headers=auth)
        assert sse_text(r.content, openai_delta) == "MOCK REPLY TO: REPLACED WORDS"
        body = {**chat_body(True), "max_tokens": 50}
        r = await gw.client.post("/v1/messages", json=body, headers=auth)
        assert sse_text(r.content, anthropic_delta) == "MOCK REPLY TO: REPLACED WORDS"
        assert [state for _, state in policy.completed] == ["mine"] * 3


async def test_what_served_is_recorded_on_the_context(inproc: Any) -> None:
    async with inproc(CONFIG) as gw:
        key = await gw.key()
        seen: list[RequestContext] = []
        gw.gw.finalizer.recorders.append(seen.append)
        auth = {"authorization": f"Bearer {key}"}
        await gw.client.post("/v1/chat/completions", json=chat_body(), headers=auth)
        await gw.client.post("/v1/embeddings", json={"model": "emb", "input": "x"}, headers=auth)
        chat, emb = seen
        assert (chat.served_by, chat.served_model, chat.attempts) == ("demo/x", "chat", 1)
        assert chat.principal is not None and chat.principal.tenant_name == "acme"
        assert chat.usage is not None
        expected = (chat.usage.input_tokens * 1.0 + chat.usage.output_tokens * 2.0) / 1e6
        assert chat.cost == expected
        assert emb.served_by == "demo/e" and emb.cost is not None


async def test_a_chat_model_on_the_embeddings_route_is_refused_by_access(inproc: Any) -> None:
    async with inproc(CONFIG) as gw:
        key = await gw.key()
        auth = {"authorization": f"Bearer {key}"}
        r = await gw.client.post(
            "/v1/embeddings", json={"model": "chat", "input": "x"}, headers=auth
        )
        assert r.status_code == 400 and "chat model" in r.json()["error"]["message"]
