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
from typing import Any

from lockgate.errors import GatewayError, InternalError, UpstreamError, UpstreamProtocolError
from lockgate.ingress.http import SSE_HEADERS, Send
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.runner import apply_chunk_hooks
from lockgate.providers.base import ChunkStream, HttpProvider, passthrough_to
from lockgate.providers.stream import RawEventStream, named
from lockgate.routing.router import Router
from lockgate.runtime import ModelRoute, Target
from lockgate.usage.tokens import estimate_request, estimate_text, fill_reasoning
from lockgate.wire.formats import IngressFormat
from lockgate.wire.replay import response_chunks
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    StreamEnd,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

log = logging.getLogger("lockgate.dataplane")


class _Relay:
    """Keeps what was relayed, so usage can be counted when the provider reports none."""

    __slots__ = ("estimated", "input_usage", "pieces", "thoughts", "usage")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.thoughts: list[str] = []  # reasoning text, also in pieces
        self.usage: Usage | None = None
        self.input_usage: Usage | None = None
        self.estimated = False

    def observe(self, chunk: object) -> None:
        if isinstance(chunk, TextDelta):
            self.pieces.append(chunk.text)
        elif isinstance(chunk, ThinkingDelta):
            self.pieces.append(chunk.text)
            self.thoughts.append(chunk.text)
        elif isinstance(chunk, ToolCallDelta):
            self.pieces.append(chunk.arguments)
        elif isinstance(chunk, ToolCallStart):
            self.pieces.append(chunk.name)
        elif isinstance(chunk, StreamEnd):
            self.usage = chunk.usage
        elif isinstance(chunk, StreamStart):
            self.input_usage = chunk.usage

    def counted(self, req: ChatRequest) -> Usage:
        """Input as reported at the start (else counted from the request), output counted
        with the tokenizer from what was relayed."""
        reported = self.input_usage
        inp = reported.input_tokens if reported is not None else estimate_request(req)
        out = estimate_text("".join(self.pieces)) if self.pieces else 0
        usage = Usage(input_tokens=inp, output_tokens=out)
        fill_reasoning(usage, "".join(self.thoughts))
        if reported is not None:
            usage.cached_input_tokens = reported.cached_input_tokens
            usage.cache_creation_input_tokens = reported.cache_creation_input_tokens
        return usage

    def settle(self, req: ChatRequest) -> tuple[Usage, bool]:
        if self.usage is not None:
            return self.usage, self.estimated
        return self.counted(req), True


DROPPED_HEADER = b"x-lockgate-dropped-params"


def note_dropped(ctx: RequestContext, req: ChatRequest) -> None:
    """Name what the serving provider did not get, when the attempt that served encoded the
    request from its canonical form (a provider of another format, or a rewritten request)."""
    target = ctx.target
    if ctx.passthrough or target is None:
        return
    lists = getattr(target.provider, "dropped_params", None)  # test doubles may lack it
    dropped = [*req.ignored, *(lists(req) if lists is not None else ())]
    if dropped:
        ctx.dropped_params = tuple(dropped)
        ctx.response_headers.append((DROPPED_HEADER, ", ".join(dropped).encode()))


def forwarded_headers(ctx: RequestContext, provider: HttpProvider) -> list[tuple[str, str]]:
    fmt = provider.passthrough
    return fmt.client_headers(ctx.headers) if fmt is not None else []


def passthrough_target(
    ctx: RequestContext, target: Target, raw: dict[str, Any] | None
) -> HttpProvider | None:
    """The provider when this attempt may send the client's body as it is (and notes it)."""
    direct = passthrough_to(target.provider, ctx.ingress) if raw is not None else None
    ctx.passthrough = direct is not None
    return direct


async def stream_chat(
    ctx: RequestContext,
    fmt: IngressFormat,
    router: Router,
    route: ModelRoute,
    req: ChatRequest,
    send: Send,
    raw: dict[str, Any] | None = None,
    relay_raw: bool = False,
) -> None:
    """``raw``: the client's body, when it may go upstream as it is (no policy read or
    rewrote the prompt): a provider of the client's format gets it. ``relay_raw``: no policy
    looks at the stream either, so its events are relayed undecoded. Both are decided per
    attempt: a fallback in another format is encoded and decoded as usual."""

    def attempt(target: Target, r: ModelRoute) -> Awaitable[ChunkStream | RawEventStream]:
        direct = passthrough_target(ctx, target, raw)
        if direct is not None and raw is not None:
            extra = forwarded_headers(ctx, direct)
            return direct.open_passthrough(
                raw, target.model, r.timeouts, extra, decode=not relay_raw
            )
        return target.provider.open_stream(req, target.model, r.timeouts)

    stream = await router.run(ctx, route, attempt)
    relay = _Relay()
    try:
        note_dropped(ctx, req)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*SSE_HEADERS, *ctx.response_headers],
            }
        )
        if isinstance(stream, RawEventStream):
            await _relay_raw(ctx, fmt, req, stream, relay, send)
        else:
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
    encoder = fmt.stream_encoder(
        ctx.served_model or req.model, req.include_usage, req.include_reasoning
    )
    hooks = ctx.runtime.pipeline.chunk_hooks(ctx) if ctx.kept else None
    try:
        async for chunk in stream:
            relay.observe(chunk)
            if ctx.first_token_at is None and isinstance(
                chunk, TextDelta | ThinkingDelta | ToolCallStart
            ):
                ctx.first_token_at = time.monotonic()
            if isinstance(chunk, StreamEnd):
                if chunk.usage is None:
                    # The provider reported no usage: the client gets counted tokens, not 0 / 0.
                    chunk.usage = relay.usage = relay.counted(req)
                    relay.estimated = True
                elif relay.thoughts:
                    fill_reasoning(chunk.usage, "".join(relay.thoughts))
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
        tail = _unexpected(ctx, fmt)
    await send({"type": "http.response.body", "body": tail, "more_body": False})


async def _relay_raw(
    ctx: RequestContext,
    fmt: IngressFormat,
    req: ChatRequest,
    stream: RawEventStream,
    relay: _Relay,
    send: Send,
) -> None:
    """Forward the provider's events as they are; only usage-bearing events are parsed."""

    def count() -> Usage:
        relay.pieces.clear()
        relay.thoughts.clear()
        relay.input_usage = scanner.input_usage
        for chunk in stream.decoded():
            if not isinstance(chunk, StreamStart | StreamEnd):
                relay.observe(chunk)
        return relay.counted(req)

    scanner = stream.format.scanner(ctx.served_model or req.model, req.include_usage, count)
    try:
        async for block in stream:
            try:
                out = scanner.block(block)
            except UpstreamError as err:
                raise named(err, stream.provider) from None
            if out:
                if ctx.first_token_at is None:
                    ctx.first_token_at = time.monotonic()
                await send({"type": "http.response.body", "body": out, "more_body": True})
        if not scanner.ended:
            raise UpstreamProtocolError(
                f"provider '{stream.provider}' stream ended before the response finished"
            )
        tail = b""
    except GatewayError as err:
        ctx.failed(err)
        tail = fmt.stream_error(err)
    except Exception:
        tail = _unexpected(ctx, fmt)
    finally:
        # Also on cancellation: usage as reported, else counted from what was relayed.
        if scanner.usage is not None:
            relay.usage, relay.estimated = scanner.usage, False
        else:
            relay.usage, relay.estimated = count(), True
    await send({"type": "http.response.body", "body": tail, "more_body": False})


def _unexpected(ctx: RequestContext, fmt: IngressFormat) -> bytes:
    # The response has started: a second one cannot. End the stream in the client's format,
    # and log the failure here, once.
    log.exception("request %s: the stream failed", ctx.request_id)
    failure = InternalError(f"the stream failed (request id {ctx.request_id})")
    ctx.failed(failure)
    return fmt.stream_error(failure)


async def replay_stream(
    ctx: RequestContext, fmt: IngressFormat, req: ChatRequest, resp: ChatResponse, send: Send
) -> None:
    """Answer a streaming client from a complete response (a policy's ``Reply``)."""
    encoder = fmt.stream_encoder(req.model, req.include_usage, req.include_reasoning)
    body = b"".join(encoder.encode(c) for c in response_chunks(resp)) + encoder.close()
    headers = [*SSE_HEADERS, *ctx.response_headers]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    ctx.first_token_at = time.monotonic()
    await send({"type": "http.response.body", "body": body, "more_body": False})
