"""Streaming chat responses: upstream chunks → client SSE, with disconnect handling.

Retries and fallbacks happen inside ``router.run`` while the stream is being opened, before the
client has seen a byte. Once the response has started, an upstream failure ends the stream with
an error event in the client's format. A client that disconnects cancels the relay, which
closes the upstream request (the provider stops generating and the connection is not reused).
Usage is the provider's when it reports it, otherwise counted from what was relayed — also for
streams the client abandoned. Chunks go through the admitting policies' ``on_chunk`` hooks only
when a policy asked for them; usage is always taken from what the provider sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

from lockgate.errors import GatewayError, InternalError
from lockgate.ingress.http import SSE_HEADERS, Send
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.runner import apply_chunk_hooks
from lockgate.providers.base import ChunkStream
from lockgate.routing.router import Router
from lockgate.runtime import ModelRoute, Target
from lockgate.usage.tokens import estimate_request
from lockgate.wire.formats import IngressFormat
from lockgate.wire.replay import response_chunks
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    StreamEnd,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

log = logging.getLogger("lockgate.dataplane")


class _Relay:
    """Counts what was relayed, so usage can be settled when the provider reports none."""

    __slots__ = ("chars", "input_usage", "usage")

    def __init__(self) -> None:
        self.chars = 0
        self.usage: Usage | None = None
        self.input_usage: Usage | None = None

    def observe(self, chunk: object) -> None:
        if isinstance(chunk, TextDelta):
            self.chars += len(chunk.text)
        elif isinstance(chunk, ToolCallDelta):
            self.chars += len(chunk.arguments)
        elif isinstance(chunk, ToolCallStart):
            self.chars += len(chunk.name)
        elif isinstance(chunk, StreamEnd):
            self.usage = chunk.usage
        elif isinstance(chunk, StreamStart):
            self.input_usage = chunk.usage

    def settle(self, req: ChatRequest) -> tuple[Usage, bool]:
        if self.usage is not None:
            return self.usage, False
        inp = self.input_usage.input_tokens if self.input_usage else estimate_request(req)
        out = max(0, (self.chars + 3) // 4) if self.chars else 0
        return Usage(input_tokens=inp, output_tokens=out), True


async def stream_chat(
    ctx: RequestContext,
    fmt: IngressFormat,
    router: Router,
    route: ModelRoute,
    req: ChatRequest,
    send: Send,
) -> None:
    def attempt(target: Target, r: ModelRoute) -> Awaitable[ChunkStream]:
        return target.provider.open_stream(req, target.model, r.timeouts)

    stream = await router.run(ctx, route, attempt)
    relay = _Relay()
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*SSE_HEADERS, *ctx.response_headers],
            }
        )
        await _relay(ctx, fmt, req, stream, relay, send)
    finally:
        # Also on cancellation (client gone): close the upstream, settle what was relayed.
        await stream.aclose()
        ctx.upstream_ended = time.monotonic()
        router.stream_ended(ctx)
        ctx.usage, ctx.usage_estimated = relay.settle(req)


async def _relay(
    ctx: RequestContext,
    fmt: IngressFormat,
    req: ChatRequest,
    stream: ChunkStream,
    relay: _Relay,
    send: Send,
) -> None:
    encoder = fmt.stream_encoder(ctx.served_model or req.model, req.include_usage)
    hooks = ctx.runtime.pipeline.chunk_hooks(ctx) if ctx.kept else None
    try:
        async for chunk in stream:
            relay.observe(chunk)
            if ctx.first_token_at is None and isinstance(chunk, TextDelta | ToolCallStart):
                ctx.first_token_at = time.monotonic()
            if hooks:
                out = b"".join(encoder.encode(c) for c in apply_chunk_hooks(hooks, ctx, chunk))
            else:
                out = encoder.encode(chunk)
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
        tail = encoder.close()
    except GatewayError as err:
        ctx.failed(err)
        tail = fmt.stream_error(err)
    except Exception:
        # The response has started: a second one cannot. End the stream in the client's
        # format, and log the failure here, once.
        log.exception("request %s: the stream failed", ctx.request_id)
        failure = InternalError(f"the stream failed (request id {ctx.request_id})")
        ctx.failed(failure)
        tail = fmt.stream_error(failure)
    await send({"type": "http.response.body", "body": tail, "more_body": False})


async def replay_stream(
    ctx: RequestContext, fmt: IngressFormat, req: ChatRequest, resp: ChatResponse, send: Send
) -> None:
    """Answer a streaming client from a complete response (a policy's ``Reply``)."""
    encoder = fmt.stream_encoder(req.model, req.include_usage)
    body = b"".join(encoder.encode(c) for c in response_chunks(resp)) + encoder.close()
    headers = [*SSE_HEADERS, *ctx.response_headers]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    ctx.first_token_at = time.monotonic()
    await send({"type": "http.response.body", "body": body, "more_body": False})
