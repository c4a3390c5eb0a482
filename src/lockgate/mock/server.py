"""The mock upstream as a raw ASGI app: routing, auth, directives, timing and streaming.

Formats (``formats_*``) decide what the bytes say; this module decides when they go out and
what the counters in ``/_mock/stats`` record. No framework: the benchmark pushes thousands of
requests per second through it, so the hot path is a dict lookup, one ``orjson`` parse and
one serialisation.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson

from lockgate.mock import formats_anthropic as anthropic
from lockgate.mock import formats_gemini as gemini
from lockgate.mock import formats_openai as openai
from lockgate.mock.base import (
    AuthCheck,
    BadRequest,
    ChatFormat,
    MockUsage,
    Query,
    Receive,
    Scope,
    Send,
    SimpleEndpoint,
    StreamPlan,
)
from lockgate.mock.engine import (
    DIRECTIVE_MARK,
    MOCK_WINDOW,
    ChatCall,
    Directives,
    FailCounter,
    MockBehaviour,
    MockReply,
    count_tokens,
    parse_directives,
    reply_for,
    thinking_for,
)
from lockgate.mock.stats import MockStats
from lockgate.mock.streaming import run_stream, until_disconnect

_JSON = b"application/json"
_DIRECTIVE_MARK = DIRECTIVE_MARK.encode()
_RETRY_AFTER = (b"retry-after", b"1")
_MALFORMED = b'{"id": "mock-malformed", "choices": [{'
_MALFORMED_STREAM = StreamPlan(
    b"text/event-stream", [b'data: {"id": "mock-malformed", \n\n'], [], []
)
# What the formats' unchecked lookups raise on a body of the wrong shape: answered with 400.
_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)
_CACHE_SIZE = 4096  # entries per cache; a full cache is cleared, so memory stays bounded
_CACHED_BODY_MAX = 8192  # bigger request bodies are not worth remembering
_GEMINI_SIMPLE: dict[str, SimpleEndpoint] = {
    "countTokens": gemini.count,
    "embedContent": gemini.embed_content,
    "batchEmbedContents": gemini.batch_embed_contents,
}


@dataclass(slots=True)
class _Route:
    kind: Literal["chat", "simple"]
    fmt: ChatFormat  # chat codec, and the error envelope for every kind
    auth: AuthCheck
    simple: SimpleEndpoint | None = None
    model: str | None = None  # from the URL (Azure deployment, Gemini model)
    stream: bool | None = None  # from the URL (Gemini's stream method)


@dataclass(slots=True)
class _Exchange:
    receive: Receive
    send: Send
    body: bytes


async def _send_json(
    send: Send, status: int, body: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class MockApp:
    """ASGI app answering the OpenAI, Azure OpenAI, Anthropic and Gemini routes."""

    def __init__(self, behaviour: MockBehaviour, *, record: bool = True) -> None:
        self.behaviour = behaviour
        self.record = record
        self.stats = MockStats()
        self.fails = FailCounter(behaviour.fail_rate)
        self._ids = 0
        # Replies are pure functions of the call, and benchmarks repeat the same prompt.
        self._replies: dict[tuple[Any, ...], MockReply] = {}
        self._calls: dict[tuple[Any, ...], ChatCall] = {}
        self._prompt_cache: set[str] = set()  # cache_control prefixes seen (bounded)
        self._openai = openai.OpenAIFormat()
        self._anthropic = anthropic.AnthropicFormat()
        self._gemini_sse = gemini.GeminiFormat(sse=True)
        self._gemini_json = gemini.GeminiFormat(sse=False)
        oa, an = self._openai, self._anthropic
        self._routes: dict[tuple[str, str], _Route] = {
            ("POST", "/v1/chat/completions"): _Route("chat", oa, openai.bearer_auth),
            ("POST", "/v1/embeddings"): _Route("simple", oa, openai.bearer_auth, openai.embeddings),
            ("GET", "/v1/models"): _Route("simple", oa, openai.bearer_auth, openai.models),
            ("POST", "/v1/messages"): _Route("chat", an, anthropic.anthropic_auth),
            ("POST", "/v1/messages/count_tokens"): _Route(
                "simple", an, anthropic.anthropic_auth, anthropic.count
            ),
        }

    def reset(self) -> None:
        self.stats.reset()
        self._prompt_cache.clear()
        self.fails.reset()
        self._ids = 0

    def _resolve(self, method: str, path: str, query: Query) -> _Route | None:
        """Routes with a parameter in the path (Azure deployments, Gemini models)."""
        if method != "POST":
            return None
        if path.startswith("/openai/deployments/"):
            deployment, _, op = path[len("/openai/deployments/") :].partition("/")
            if op == "chat/completions":
                return _Route("chat", self._openai, openai.azure_auth, model=deployment)
            if op == "embeddings":
                return _Route(
                    "simple", self._openai, openai.azure_auth, openai.embeddings, deployment
                )
        elif path.startswith("/v1beta/models/"):
            model, _, op = path[len("/v1beta/models/") :].rpartition(":")
            if op == "generateContent":
                return _Route(
                    "chat", self._gemini_sse, gemini.gemini_auth, model=model, stream=False
                )
            if op == "streamGenerateContent":
                fmt = self._gemini_sse if query.get("alt") == ["sse"] else self._gemini_json
                return _Route("chat", fmt, gemini.gemini_auth, model=model, stream=True)
            if op in _GEMINI_SIMPLE:
                return _Route(
                    "simple", self._gemini_sse, gemini.gemini_auth, _GEMINI_SIMPLE[op], model
                )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/_mock/"):
            await self._control(method, path, send)
            return
        body = await _read_body(receive)
        self.stats.requests += 1
        if self.record:
            self.stats.record(path, scope["headers"], body)
        qs: bytes = scope["query_string"]
        query = parse_qs(qs.decode("latin-1")) if qs else {}
        route = self._routes.get((method, path)) or self._resolve(method, path, query)
        if route is None:
            message = f"Unknown route: {method} {path}"
            await _send_json(send, 404, orjson.dumps({"error": {"message": message}}))
            return
        denied = route.auth(dict(scope["headers"]), query)
        if denied is not None:
            await self._error(send, route.fmt, *denied)
            return
        parsed = self._parse(route, body)
        if isinstance(parsed, str):
            await self._error(send, route.fmt, 400, parsed)
            return
        ex = _Exchange(receive, send, body)
        if isinstance(parsed, ChatCall):
            await self._serve(ex, route, parsed, {})
        else:
            await self._serve(ex, route, None, parsed)

    def _parse(self, route: _Route, body: bytes) -> ChatCall | dict[str, Any] | str:
        """The chat call, the JSON body of another route, or an error message.

        Chat calls are cached by body: benchmarks repeat one small request thousands of times.
        """
        key = (route.fmt, route.model, route.stream, body)
        if route.kind == "chat" and (call := self._calls.get(key)) is not None:
            return call
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return "The request body is not a JSON object."
        if route.kind != "chat":
            return data
        try:
            call = route.fmt.parse_chat(data, route.model, route.stream)
        except BadRequest as e:
            return str(e)
        except _SHAPE_ERRORS as e:  # a field of the wrong type deep in the body
            return f"Malformed request body: {e!r}"
        if len(body) <= _CACHED_BODY_MAX:
            if len(self._calls) >= _CACHE_SIZE:
                self._calls.clear()
            self._calls[key] = call
        return call

    async def _serve(
        self, ex: _Exchange, route: _Route, call: ChatCall | None, data: dict[str, Any]
    ) -> None:
        fmt = route.fmt
        if call is not None:
            directives = parse_directives(call.user_text)
        elif _DIRECTIVE_MARK in ex.body:
            directives = parse_directives(ex.body.decode("utf-8", "replace"))
        else:
            directives = parse_directives("")
        delay_ms = self.behaviour.latency_ms + directives.slow_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if self.fails.should_fail():
            status = self.behaviour.fail_status
            await self._error(ex.send, fmt, status, "Mock failure injected by --fail-rate.")
        elif directives.status is not None:
            message = f"Mock error {directives.status} requested by a directive."
            await self._error(ex.send, fmt, directives.status, message)
        elif call is not None and (directives.overflow or self._too_long(call)):
            tokens = max(self.behaviour.context_window or MOCK_WINDOW, count_tokens(call.all_text))
            await _send_json(ex.send, 400, fmt.overflow(tokens + 1))
        elif call is not None and call.stream:
            await self._chat_stream(ex, fmt, call, directives)
        elif directives.hang:
            await ex.send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", _JSON)],
                }
            )
            self.stats.hangs_open += 1
            try:
                await until_disconnect(ex.receive)
            finally:
                self.stats.hangs_open -= 1
                self.stats.hangs_released += 1
        elif directives.malformed:
            await _send_json(ex.send, 200, _MALFORMED)
        elif call is not None:
            reply, usage, rid = self._answer(call, directives)
            await _send_json(ex.send, 200, fmt.render(call, reply, usage, rid, int(time.time())))
        else:
            await self._simple(ex.send, route, data, directives)

    def _too_long(self, call: ChatCall) -> bool:
        window = self.behaviour.context_window
        return window > 0 and count_tokens(call.all_text) > window

    async def _simple(
        self, send: Send, route: _Route, data: dict[str, Any], directives: Directives
    ) -> None:
        assert route.simple is not None
        try:
            body = route.simple(data, route.model, directives.nousage)
        except BadRequest as e:
            await self._error(send, route.fmt, 400, str(e))
            return
        except _SHAPE_ERRORS as e:
            await self._error(send, route.fmt, 400, f"Malformed request body: {e!r}")
            return
        await _send_json(send, 200, body)

    def _answer(
        self, call: ChatCall, directives: Directives
    ) -> tuple[MockReply, MockUsage | None, str]:
        key = (
            call.prompt_text,
            tuple(call.tools),
            call.tool_choice_none,
            call.last_role,
            call.max_tokens,
        )
        reply = self._replies.get(key)
        if reply is None:
            if len(self._replies) >= _CACHE_SIZE:
                self._replies.clear()
            reply = self._replies[key] = reply_for(
                call.prompt_text,
                tools=call.tools,
                tool_choice_none=call.tool_choice_none,
                last_role=call.last_role,
                max_tokens=call.max_tokens,
            )
        usage = None
        if not directives.nousage:
            usage = self._usage(call, reply, directives)
            self.stats.usage_input_tokens += usage.input_tokens
            self.stats.usage_output_tokens += usage.output_tokens
        self._ids += 1
        return reply, usage, f"mock{self._ids:08d}"

    def _usage(self, call: ChatCall, reply: MockReply, directives: Directives) -> MockUsage:
        prompt = count_tokens(call.all_text)
        reasoning = count_tokens(thinking_for(call.prompt_text)) if call.thinking else 0
        cached = min(directives.cached, prompt)
        written = 0
        if call.cache_prefix:
            tokens = min(count_tokens(call.cache_prefix), prompt)
            if call.cache_prefix in self._prompt_cache:
                cached = tokens
            else:
                if len(self._prompt_cache) >= _CACHE_SIZE:
                    self._prompt_cache.clear()
                self._prompt_cache.add(call.cache_prefix)
                written = tokens
        return MockUsage(prompt, reply.output_tokens + reasoning, cached, written, reasoning)

    async def _chat_stream(
        self, ex: _Exchange, fmt: ChatFormat, call: ChatCall, directives: Directives
    ) -> None:
        if directives.malformed:
            plan = _MALFORMED_STREAM
        else:
            reply, usage, rid = self._answer(call, directives)
            plan = fmt.render_stream(call, reply, usage, rid, int(time.time()))
        await run_stream(
            self.stats,
            self.behaviour,
            ex.receive,
            ex.send,
            plan,
            directives.hang,
            directives.cut,
            directives.stall,
        )

    async def _error(self, send: Send, fmt: ChatFormat, status: int, message: str) -> None:
        extra = (_RETRY_AFTER,) if status == 429 else ()
        await _send_json(send, status, fmt.error(status, message), extra)

    async def _control(self, method: str, path: str, send: Send) -> None:
        if method == "GET" and path == "/_mock/stats":
            await _send_json(send, 200, orjson.dumps(self.stats.snapshot()))
        elif method == "POST" and path == "/_mock/reset":
            self.reset()
            await _send_json(send, 200, b'{"ok":true}')
        else:
            await _send_json(
                send, 404, orjson.dumps({"error": {"message": f"Unknown route: {path}"}})
            )


def create_mock_app(behaviour: MockBehaviour, *, record: bool = True) -> MockApp:
    """A fresh mock upstream; ``record=False`` skips keeping the last request (benchmarks)."""
    return MockApp(behaviour, record=record)


def run_mock_upstream(
    host: str, port: int, behaviour: MockBehaviour, *, record: bool = True
) -> None:
    """Serve the mock with uvicorn on httptools + uvloop, access log off; blocks."""
    import uvicorn  # only the standalone server needs it

    app = create_mock_app(behaviour, record=record)
    uvicorn.run(
        app,
        host=host,
        port=port,
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level="warning",
        lifespan="on",
    )
