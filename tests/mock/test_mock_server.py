"""Server behaviour shared by every format: directives, failures, stats, hangs, lifespan."""

import asyncio
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import httpx
import orjson
import pytest
from mock_helpers import ANTHROPIC_AUTH, GEMINI_AUTH, OPENAI_AUTH, sse_events

from lockgate.mock import MockApp, MockBehaviour, create_mock_app

Message = MutableMapping[str, Any]


def openai_chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


# (path, headers, body builder, how to read the error type from the envelope)
Vendor = tuple[str, dict[str, str], Callable[[str], Any], Callable[[Any], str]]
VENDORS: dict[str, Vendor] = {
    "openai": (
        "/v1/chat/completions",
        OPENAI_AUTH,
        openai_chat,
        lambda b: b["error"]["type"],
    ),
    "anthropic": (
        "/v1/messages",
        ANTHROPIC_AUTH,
        lambda t: {"model": "c", "max_tokens": 9, "messages": [{"role": "user", "content": t}]},
        lambda b: b["type"] + "/" + b["error"]["type"],
    ),
    "gemini": (
        "/v1beta/models/g:generateContent",
        GEMINI_AUTH,
        lambda t: {"contents": [{"role": "user", "parts": [{"text": t}]}]},
        lambda b: b["error"]["status"],
    ),
}
EXPECTED_ERRORS = {
    ("openai", 503): "server_error",
    ("openai", 429): "requests",
    ("anthropic", 503): "error/overloaded_error",
    ("anthropic", 429): "error/rate_limit_error",
    ("gemini", 503): "UNAVAILABLE",
    ("gemini", 429): "RESOURCE_EXHAUSTED",
}


@pytest.mark.parametrize(("vendor", "status"), sorted(EXPECTED_ERRORS))
async def test_status_directive_uses_vendor_envelope(
    client: httpx.AsyncClient, vendor: str, status: int
) -> None:
    path, headers, build, kind = VENDORS[vendor]
    r = await client.post(path, headers=headers, json=build(f"hi [[mock:status={status}]]"))
    assert r.status_code == status
    assert kind(r.json()) == EXPECTED_ERRORS[(vendor, status)]
    assert r.headers.get("retry-after") == ("1" if status == 429 else None)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_nousage_and_malformed(client: httpx.AsyncClient, vendor: str) -> None:
    path, headers, build, _ = VENDORS[vendor]
    body = (await client.post(path, headers=headers, json=build("x [[mock:nousage]]"))).json()
    assert not {"usage", "usageMetadata"} & set(body)
    r = await client.post(path, headers=headers, json=build("x [[mock:malformed]]"))
    assert r.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)


async def test_directives_are_not_echoed_and_apply_to_streams(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions", headers=OPENAI_AUTH, json=openai_chat("hello [[mock:nousage]]")
    )
    assert r.json()["choices"][0]["message"]["content"] == "Mock reply to: hello"
    body = openai_chat("x [[mock:nousage]]", stream=True, stream_options={"include_usage": True})
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)
    chunks = [orjson.loads(d) for _, d in sse_events(r.text) if d != "[DONE]"]
    assert all(c["choices"] for c in chunks)
    body = openai_chat("x [[mock:malformed]]", stream=True)
    r = await client.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(sse_events(r.text)[0][1])
    r = await client.post(
        "/v1/chat/completions", headers=OPENAI_AUTH, json=openai_chat("[[mock:status=418]]")
    )
    assert r.status_code == 418


async def test_directives_on_embeddings(client: httpx.AsyncClient) -> None:
    body: dict[str, Any] = {"model": "e", "input": "a [[mock:status=503]]"}
    r = await client.post("/v1/embeddings", headers=OPENAI_AUTH, json=body)
    assert r.status_code == 503
    body = {"model": "e", "input": "a [[mock:nousage]]", "dimensions": 2}
    r = await client.post("/v1/embeddings", headers=OPENAI_AUTH, json=body)
    assert "usage" not in r.json()


async def test_slow_directive_delays_the_answer(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    r = await client.post(
        "/v1/chat/completions", headers=OPENAI_AUTH, json=openai_chat("x [[mock:slow=50]]")
    )
    assert r.status_code == 200 and time.monotonic() - started >= 0.05


async def test_fail_rate_is_deterministic() -> None:
    app = create_mock_app(MockBehaviour(fail_rate=1 / 3, fail_status=502))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:

        async def statuses(n: int) -> list[int]:
            return [
                (
                    await c.post("/v1/chat/completions", headers=OPENAI_AUTH, json=openai_chat("x"))
                ).status_code
                for _ in range(n)
            ]

        assert await statuses(6) == [200, 200, 502, 200, 200, 502]
        assert (await c.post("/_mock/reset")).json() == {"ok": True}
        assert await statuses(3) == [200, 200, 502]
        r = await c.post(
            "/v1/messages",
            headers=ANTHROPIC_AUTH,
            json={"model": "c", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.status_code == 200
        assert (await statuses(2))[1] == 502


async def test_stats_and_reset(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/chat/completions",
        headers={**OPENAI_AUTH, "X-Trace": "t1"},
        json=openai_chat("x", stream=True),
    )
    await client.get("/v1/models", headers=OPENAI_AUTH)
    stats = (await client.get("/_mock/stats")).json()
    assert stats["requests"] == 2
    assert stats["usage_input_tokens"] > 0 and stats["usage_output_tokens"] > 0
    assert stats["streams_started"] == stats["streams_completed"] == 1
    assert stats["streams_cancelled"] == stats["open_streams"] == 0
    assert stats["last_request"]["path"] == "/v1/models"
    assert stats["last_request"]["json"] is None
    await client.post("/v1/chat/completions", headers={**OPENAI_AUTH, "X-Trace": "t2"}, json={})
    last = (await client.get("/_mock/stats")).json()["last_request"]
    assert last["headers"]["x-trace"] == "t2" and last["json"] == {}
    await client.post("/_mock/reset")
    stats = (await client.get("/_mock/stats")).json()
    assert stats == {
        "requests": 0,
        "streams_started": 0,
        "streams_completed": 0,
        "streams_cancelled": 0,
        "open_streams": 0,
        "hangs_open": 0,
        "hangs_released": 0,
        "last_request": None,
        "usage_input_tokens": 0,
        "usage_output_tokens": 0,
    }


async def test_record_false_keeps_counts_only() -> None:
    app = create_mock_app(MockBehaviour(), record=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:
        await c.get("/v1/models", headers=OPENAI_AUTH)
        stats = (await c.get("/_mock/stats")).json()
    assert stats["requests"] == 1 and stats["last_request"] is None


async def test_unknown_routes(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/nope"), ("GET", "/v1/chat/completions"), ("GET", "/_mock/x")]:
        r = await client.request(method, path, headers=OPENAI_AUTH)
        assert r.status_code == 404 and "error" in r.json()


async def test_stream_pacing() -> None:
    paced = create_mock_app(MockBehaviour(ttft_ms=30, tokens_per_s=200, latency_ms=10))
    transport = httpx.ASGITransport(app=paced)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:
        started = time.monotonic()
        body = openai_chat("one two three", stream=True)
        r = await c.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)
        elapsed = time.monotonic() - started
    # latency + ttft + 5 gaps of 5 ms between the 6 tokens
    assert r.status_code == 200 and elapsed >= 0.010 + 0.030 + 0.025


class Harness:
    """Drives the app directly so a test decides when the client disconnects."""

    def __init__(self, app: MockApp, path: str, headers: dict[str, str], body: Any) -> None:
        self.app = app
        self.scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
        self.body = orjson.dumps(body)
        self.sent: list[Message] = []
        self.changed = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.requested = False

    async def receive(self) -> Message:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        self.changed.set()

    async def wait_for(self, n: int) -> None:
        async with asyncio.timeout(5):
            while len(self.sent) < n:
                self.changed.clear()
                await self.changed.wait()


@pytest.mark.parametrize("stream", [False, True])
async def test_hang_until_client_leaves(app: MockApp, stream: bool) -> None:
    h = Harness(
        app, "/v1/chat/completions", OPENAI_AUTH, openai_chat("x [[mock:hang]]", stream=stream)
    )
    task = asyncio.create_task(app(h.scope, h.receive, h.send))
    await h.wait_for(2 if stream else 1)
    for _ in range(20):  # give a wrongly finishing app the chance to send more
        await asyncio.sleep(0)
    assert not task.done()
    assert h.sent[0]["status"] == 200
    expected = 2 if stream else 1
    assert len(h.sent) == expected
    if stream:
        assert h.sent[1]["more_body"] is True and b"assistant" in h.sent[1]["body"]
    h.disconnected.set()
    await asyncio.wait_for(task, 5)
    stats = app.stats.snapshot()
    assert stats["streams_cancelled"] == (1 if stream else 0)
    assert stats["open_streams"] == 0


async def test_lifespan(app: MockApp) -> None:
    messages: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        ("/v1/chat/completions", OPENAI_AUTH, {"messages": [{"role": "user", "tool_calls": [1]}]}),
        (
            "/v1/chat/completions",
            OPENAI_AUTH,
            {"messages": [{"role": "user"}], "tools": [{"function": {}}]},
        ),
        ("/v1/messages", ANTHROPIC_AUTH, {"max_tokens": 1, "messages": [1], "tool_choice": "x"}),
        ("/v1/messages", ANTHROPIC_AUTH, {"max_tokens": 1, "messages": "hi"}),
        ("/v1beta/models/g:generateContent", GEMINI_AUTH, {"contents": [{"parts": 3}]}),
        ("/v1beta/models/g:batchEmbedContents", GEMINI_AUTH, {"requests": [{"content": 1}]}),
        ("/v1/embeddings", OPENAI_AUTH, [1, 2]),
    ],
)
async def test_hostile_bodies_get_400(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: Any
) -> None:
    r = await client.post(path, headers=headers, json=body)
    assert r.status_code == 400, r.text
    assert "error" in r.json()
