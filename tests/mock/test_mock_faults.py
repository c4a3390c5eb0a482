"""Faults for routing tests: each format's context-length error (and the gateway recognising
it), ``--context-window``, and streams cut after N tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from mock_helpers import ANTHROPIC_AUTH, GEMINI_AUTH, OPENAI_AUTH

from lockgate.mock import MockBehaviour, create_mock_app
from lockgate.mock.streaming import StreamCut
from lockgate.providers.overflow import is_context_overflow
from lockgate.wire import anthropic_response, gemini, openai_response

Decode = Callable[[int, bytes], tuple[str, str | None, str | None]]
VENDORS: dict[str, tuple[str, dict[str, str], Callable[[str], Any], Decode]] = {
    "openai": (
        "/v1/chat/completions",
        OPENAI_AUTH,
        lambda t: {"model": "m", "messages": [{"role": "user", "content": t}]},
        openai_response.decode_error,
    ),
    "anthropic": (
        "/v1/messages",
        ANTHROPIC_AUTH,
        lambda t: {"model": "c", "max_tokens": 9, "messages": [{"role": "user", "content": t}]},
        anthropic_response.decode_error,
    ),
    "gemini": (
        "/v1beta/models/g:generateContent",
        GEMINI_AUTH,
        lambda t: {"contents": [{"role": "user", "parts": [{"text": t}]}]},
        gemini.decode_error,
    ),
}


def client(**behaviour: Any) -> httpx.AsyncClient:
    app = create_mock_app(MockBehaviour(**behaviour))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_overflow_directive_is_a_context_error_the_gateway_recognises(vendor: str) -> None:
    path, headers, build, decode = VENDORS[vendor]
    async with client() as c:
        r = await c.post(path, headers=headers, json=build("hi [[mock:overflow]]"))
    assert r.status_code == 400
    message, kind, _ = decode(400, r.content)
    assert is_context_overflow(400, kind, message), (message, kind)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_context_window_refuses_longer_prompts_only(vendor: str) -> None:
    path, headers, build, decode = VENDORS[vendor]
    async with client(context_window=20) as c:
        assert (await c.post(path, headers=headers, json=build("short"))).status_code == 200
        r = await c.post(path, headers=headers, json=build("word " * 40))
    assert r.status_code == 400
    assert is_context_overflow(400, *reversed(decode(400, r.content)[:2]))


async def test_cut_breaks_a_stream_after_n_tokens() -> None:
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "one two three four [[mock:cut=2]]"}],
    }
    app = create_mock_app(MockBehaviour())
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": orjson.dumps(body), "more_body": False}
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer test-key")],
    }
    with pytest.raises(StreamCut):
        await app(scope, receive, send)  # the server drops the connection on this
    chunks = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert sent[0]["status"] == 200
    assert chunks.count(b'"delta":{"content"') == 2  # two tokens went out, then the break
    assert b"[DONE]" not in chunks and all(m.get("more_body", True) for m in sent[1:])


def test_other_errors_are_not_context_errors() -> None:
    assert not is_context_overflow(400, "invalid_request_error", "messages: field required")
    assert not is_context_overflow(500, "context_length_exceeded", "odd")
    assert is_context_overflow(400, "invalid_request_error", "prompt is too long: 9 > 8")
