"""Helpers of the API-product tests: a world with a tenant, an app and its key; a fixed-text
provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    StreamEnd,
    StreamStart,
    TextDelta,
    TextPart,
    Usage,
)

ADMIN = "lga-apis-test-" + "a" * 32
SUMMARIZE: dict[str, Any] = {
    "model": "demo-chat",
    "template": "Summarize in {{ sentences }} sentences:\n\n{{ text }}",
    "input_schema": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string"}, "sentences": {"type": "integer", "default": 3}},
    },
}


def base_config(**extra: Any) -> dict[str, Any]:
    return {
        "server": {"admin_keys": [ADMIN]},
        "providers": {"demo": {"type": "mock"}},
        "models": {
            "demo-chat": {"deployments": [{"provider": "demo", "model": "demo-chat"}]},
            "other-chat": {"deployments": [{"provider": "demo", "model": "other"}]},
        },
        "plans": {
            "narrow": {"models": ["other-chat"]},
            "gold": {"limits": [{"requests": 2, "per": "minute"}]},
        },
        **extra,
    }


@dataclass
class World:
    gw: Any  # tests.conftest.InProc
    app_id: str = ""
    key: str = ""
    records: list[tuple[str | None, int | None, int | None]] = field(default_factory=list)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.gw.client  # type: ignore[no-any-return]

    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {ADMIN}"}
        return await self.client.request(method, "/admin/v1" + path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = await self.admin(method, path, **kwargs)
        assert r.status_code in (200, 201, 204), r.text
        return r.json() if r.content else None

    async def call(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {key or self.key}"}
        return await self.client.post(path, json=body, headers=headers)

    async def publish(self, name: str = "summarize", **fields: Any) -> None:
        await self.ok("POST", "/apis", json={"name": name, "tenant": "acme", **fields})
        await self.ok("POST", f"/apis/{name}/versions", json=SUMMARIZE)
        await self.ok("POST", f"/apis/{name}/versions/v1/publish")

    async def subscribe(self, name: str = "summarize", app_id: str | None = None) -> str:
        sub = await self.ok(
            "POST", "/subscriptions", json={"app_id": app_id or self.app_id, "api": name}
        )
        if sub["status"] == "pending":
            await self.ok("POST", f"/subscriptions/{sub['id']}/approve", json={})
        return str(sub["id"])


class TextProvider:
    """A provider answering a fixed text, keeping the requests it saw."""

    name = "fixed"
    kind = "fixed"
    region = None

    def __init__(self, text: str) -> None:
        self.text = text
        self.seen: list[ChatRequest] = []

    async def chat(self, req: ChatRequest, model: str, timeouts: Any) -> ChatResponse:
        self.seen.append(req)
        return ChatResponse("r1", model, [TextPart(self.text)], usage=Usage(4, 6))

    async def open_stream(self, req: ChatRequest, model: str, timeouts: Any) -> Any:
        self.seen.append(req)
        chunks = [StreamStart("r1", model), TextDelta(self.text), StreamEnd(usage=Usage(4, 6))]
        return _Stream(chunks)

    async def aclose(self) -> None:
        return None


class _Stream:
    def __init__(self, chunks: list[Any]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[Any]:
        for c in self._chunks:
            yield c

    async def aclose(self) -> None:
        return None


def answer_with(gateway: Any, model: str, text: str) -> TextProvider:
    """Make ``model`` answer ``text`` on this gateway's current runtime."""
    provider = TextProvider(text)
    route = gateway.runtime.models[model]
    targets = tuple(replace(t, provider=provider) for t in route.targets)
    gateway.runtime.models[model] = replace(route, targets=targets)
    return provider
