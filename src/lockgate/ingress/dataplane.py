"""The data-plane routes (SPEC section 2), written once against ``IngressFormat``.

Order of work for every call: request id → authentication (before the body is looked at, so
unauthenticated callers learn nothing from validation errors) → body read with the size limit
→ decode → the rest of the policies (which may answer themselves: a ``Reply``) → router →
the policies' response hooks → encode → send → completion (``Finalizer.finish``).

Each request runs on the ``Runtime`` (config, routes, pipeline) that was current when it
arrived, to its end.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from lockgate.apis import route as api_route
from lockgate.errors import (
    GatewayError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
)
from lockgate.ingress.http import (
    ClientGone,
    Receive,
    Responder,
    Scope,
    Send,
    client_ip,
    read_body,
    send_bytes,
    watch_disconnect,
)
from lockgate.ingress.streaming import (
    forwarded_headers,
    note_dropped,
    passthrough_target,
    replay_stream,
    stream_chat,
)
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.finalize import Finalizer
from lockgate.pipeline.policy import Reply
from lockgate.routing.router import Router
from lockgate.runtime import ModelRoute, Runtime, Target
from lockgate.serving.context import ON_DISCONNECT
from lockgate.serving.tls import CLIENT_CERT
from lockgate.usage.tokens import estimate_request, estimate_text, fill_reasoning
from lockgate.wire import formats
from lockgate.wire.api_product import API_FORMAT
from lockgate.wire.formats import IngressFormat
from lockgate.wire.passthrough import RawReply
from lockgate.wire.types import ChatRequest, ChatResponse, EmbeddingResponse, Usage

log = logging.getLogger("lockgate.dataplane")

# An OpenAI client opts in to the model's reasoning text (``reasoning_content``) with this.
REASONING_HEADER = b"x-lockgate-include-reasoning"
OPT_IN = (b"true", b"1")
# Embedding vectors encoded between two yields to the event loop.
EMBEDDINGS_SLICE = 256


def chat_usage(req: ChatRequest, resp: ChatResponse) -> tuple[Usage, bool]:
    """The provider's usage, or an estimate (flagged) when it reported none."""
    thinking = "".join(t.text for t in resp.thinking) if resp.thinking else ""
    if resp.usage is not None:
        fill_reasoning(resp.usage, thinking)
        return resp.usage, False
    out = estimate_text(resp.text()) + sum(estimate_text(c.arguments) for c in resp.tool_calls)
    out += estimate_text(thinking) if thinking else 0
    usage = Usage(input_tokens=estimate_request(req), output_tokens=out)
    fill_reasoning(usage, thinking)
    return usage, True


class DataPlane:
    def __init__(
        self,
        *,
        runtime: Callable[[], Runtime],
        router: Router,
        max_body: Callable[[], int],
        finalizer: Finalizer | None = None,
    ) -> None:
        self._runtime = runtime
        self.router = router
        self._max_body = max_body
        self.finalizer = finalizer or Finalizer()
        self._ids = itertools.count(1)
        self._id_prefix = "req_" + os.urandom(5).hex()
        self.created = int(time.time())
        self.routes = formats.ROUTES

    def handles(self, path: str) -> bool:
        return path in self.routes or path.startswith(api_route.PREFIX)

    def new_request_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"])
        if route is not None:
            method, kind, fmt = route.method, route.kind, route.format
        else:  # API products: /apis...
            found = api_route.route_of(scope["path"])
            if found is None:
                ids = [(b"x-request-id", self.new_request_id().encode())]
                await send_bytes(send, 404, not_found(scope["path"]).openai_body(), ids)
                return
            (method, kind), fmt = found, API_FORMAT
        rid = self.new_request_id()
        runtime = self._runtime()
        ctx = RequestContext(
            request_id=rid,
            route=kind,
            ingress=fmt.name,
            headers=scope["headers"],
            client_ip=client_ip(scope),
            runtime=runtime,
            started=time.monotonic(),
            received_at=time.time(),
            client_cert=scope["extensions"].get(CLIENT_CERT) if "extensions" in scope else None,
        )
        ctx.response_headers.append((b"x-request-id", rid.encode()))
        responder = Responder(send)
        try:
            if scope["method"] != method:
                raise MethodNotAllowed(f"{scope['path']} accepts {method} only")
            await runtime.pipeline.authenticate(ctx)
            if kind == "models":
                await self._models(ctx, send)
            elif kind in api_route.KINDS:
                await self._api(kind, ctx, scope, receive, responder)
            else:
                body = await read_body(scope, receive, self._max_body())
                await self._guarded(kind, fmt, ctx, body, scope, receive, responder)
        except ClientGone:
            ctx.client_disconnected = True
            ctx.status = 499
        except GatewayError as err:
            await self._fail(ctx, fmt, err, responder)
        except Exception:
            log.exception("request %s failed", rid)
            await self._fail(
                ctx, fmt, InternalError(f"internal error (request id {rid})"), responder
            )
        finally:
            ctx.finished_at = time.monotonic()
            self.finalizer.finish(ctx)

    async def _api(
        self, kind: str, ctx: RequestContext, scope: Scope, receive: Receive, send: Responder
    ) -> None:
        """An API product: a call runs as a chat request in the version's codec."""
        if kind != api_route.CALL:
            await api_route.describe(kind, ctx, scope["path"], send)
            return
        version = api_route.prepare(ctx, scope["path"])
        body = await read_body(scope, receive, self._max_body())
        await self._guarded("chat", version.format, ctx, body, scope, receive, send)

    async def _fail(
        self, ctx: RequestContext, fmt: IngressFormat, err: GatewayError, send: Responder
    ) -> None:
        ctx.failed(err)
        ctx.status = fmt.error_status(err)
        if send.started:
            await _end_started(ctx, fmt, err, send)
            return
        headers = list(ctx.response_headers)
        headers.extend((k.encode(), v.encode()) for k, v in err.headers.items())
        retry_after = getattr(err, "retry_after", None)
        if ctx.status == 429 and not any(k == b"retry-after" for k, _ in headers):
            headers.append((b"retry-after", str(max(1, round(retry_after or 1))).encode()))
        await send_bytes(send, ctx.status, fmt.error_body(err), headers)

    async def _guarded(
        self,
        kind: str,
        fmt: IngressFormat,
        ctx: RequestContext,
        body: bytes,
        scope: Scope,
        receive: Receive,
        responder: Responder,
    ) -> None:
        """Dispatch, cancelled if the client disconnects first, which closes the upstream.

        The lean server reports the disconnect through its ``ON_DISCONNECT`` extension; under
        other servers a watcher task waits in ``receive()`` for ``http.disconnect``.
        """
        task = asyncio.current_task()
        assert task is not None
        register = scope.get("extensions", {}).get(ON_DISCONNECT)
        gone = False

        def lost() -> None:
            nonlocal gone
            if not responder.done:
                gone = True
                task.cancel()

        watcher: asyncio.Task[bool] | None = None
        if register is not None:
            register(lost)
        else:
            watcher = asyncio.create_task(watch_disconnect(receive, task, responder))
        try:
            await self._dispatch(kind, fmt, ctx, body, responder)
        except asyncio.CancelledError:
            if watcher is not None:
                gone = watcher.done() and not watcher.cancelled() and watcher.result()
            if not gone:
                raise
            task.uncancel()
            ctx.client_disconnected = True
            ctx.status = 499
        finally:
            if watcher is not None:
                watcher.cancel()
            elif register is not None:
                register(None)

    async def _dispatch(
        self, kind: str, fmt: IngressFormat, ctx: RequestContext, body: bytes, send: Send
    ) -> None:
        data = parse_json(body)
        if kind == "chat":
            req = fmt.decode_chat(data)
        elif kind == "count_tokens":
            req = formats.decode_count_tokens(data)
        else:
            await self._embeddings(ctx, data, send)
            return
        ctx.model = req.model
        if ctx.header(REASONING_HEADER) in OPT_IN:
            req.include_reasoning = True
        ctx.chat = decoded = req
        reply = await ctx.runtime.pipeline.admit(ctx)
        req = ctx.chat or req  # a policy may have replaced the request (redaction)
        if reply is not None:
            await self._reply_chat(ctx, fmt, req, reply, send)
            return
        route = _admitted_route(ctx)
        ctx.upstream_started = time.monotonic()
        if kind == "count_tokens":
            await self._count_tokens(ctx, route, req, send)
            return
        # The client's own body may go to a provider of its format when no policy read or
        # rewrote the prompt (an input guard; a redaction replaces ctx.chat); the reply is
        # relayed undecoded when no policy looks at it either.
        same = req is decoded and not ctx.prompt_inspected and ctx.api is None
        raw = data if same and isinstance(data, dict) else None
        relay = raw is not None and not ctx.runtime.pipeline.sees_output(ctx)
        if req.stream:
            await stream_chat(ctx, fmt, self.router, route, req, send, raw, relay)
        else:
            await self._chat(ctx, fmt, route, req, send, raw, relay)

    async def _reply_chat(
        self, ctx: RequestContext, fmt: IngressFormat, req: ChatRequest, reply: Reply, send: Send
    ) -> None:
        if reply.chat is None:
            raise InternalError(f"policy {ctx.decided_by} answered without a chat response")
        ctx.response_headers.extend(reply.headers)
        if req.stream:
            await replay_stream(ctx, fmt, req, reply.chat, send)
        else:
            await send_bytes(
                send,
                200,
                fmt.encode_chat(reply.chat, req.model, req.include_reasoning),
                ctx.response_headers,
            )

    async def _chat(
        self,
        ctx: RequestContext,
        fmt: IngressFormat,
        route: ModelRoute,
        req: ChatRequest,
        send: Send,
        raw: dict[str, Any] | None = None,
        relay: bool = False,
    ) -> None:
        def attempt(target: Target, r: ModelRoute) -> Awaitable[ChatResponse | RawReply]:
            direct = passthrough_target(ctx, target, raw)
            if direct is not None and raw is not None:
                extra = forwarded_headers(ctx, direct)
                return direct.chat_passthrough(raw, target.model, r.timeouts, extra)
            return target.provider.chat(req, target.model, r.timeouts)

        served = await self.router.run(ctx, route, attempt)
        if isinstance(served, RawReply):
            if relay:
                await self._relay_reply(ctx, req, served, send)
                return
            resp = served.format.decode(served.body)  # a policy looks at the response
        else:
            resp = served
            note_dropped(ctx, req)
        ctx.usage, ctx.usage_estimated = chat_usage(req, resp)
        ctx.upstream_ended = ctx.first_token_at = time.monotonic()
        if ctx.kept:
            resp = await ctx.runtime.pipeline.respond(ctx, resp)
        model = ctx.served_model or req.model  # the model that served, after fallbacks
        await send_bytes(
            send, 200, fmt.encode_chat(resp, model, req.include_reasoning), ctx.response_headers
        )

    async def _relay_reply(
        self, ctx: RequestContext, req: ChatRequest, resp: RawReply, send: Send
    ) -> None:
        """A same-format reply as the provider wrote it, with the client's model name."""
        ctx.upstream_ended = ctx.first_token_at = time.monotonic()
        body, usage = resp.format.reply(resp.body, resp.raw, ctx.served_model or req.model)
        if usage is not None:
            ctx.usage, ctx.usage_estimated = usage, False
        else:
            ctx.usage, ctx.usage_estimated = chat_usage(req, resp.format.decode(resp.body))
        await send_bytes(send, 200, body, ctx.response_headers)

    async def _count_tokens(
        self, ctx: RequestContext, route: ModelRoute, req: ChatRequest, send: Send
    ) -> None:
        def attempt(target: Target, r: ModelRoute) -> Awaitable[int | None]:
            return target.provider.count_tokens(req, target.model, r.timeouts)

        counted = await self.router.run(ctx, route, attempt)
        ctx.upstream_ended = time.monotonic()
        n = counted if counted is not None else estimate_request(req)
        await send_bytes(send, 200, formats.encode_count_tokens(n), ctx.response_headers)

    async def _embeddings(self, ctx: RequestContext, data: object, send: Send) -> None:
        req = formats.decode_embeddings(data)
        most = ctx.runtime.config.server.max_embedding_inputs
        if len(req.inputs) > most:
            raise InvalidRequest(
                f"input has {len(req.inputs)} items; at most {most} are accepted in one request"
                " (server.max_embedding_inputs): split it into several requests",
                param="input",
            )
        ctx.model = req.model
        ctx.embedding = req
        reply = await ctx.runtime.pipeline.admit(ctx)
        req = ctx.embedding or req
        if reply is not None:
            if reply.embedding is None:
                raise InternalError(f"policy {ctx.decided_by} answered without embeddings")
            ctx.response_headers.extend(reply.headers)
            body = await _encode_embeddings(reply.embedding, req.model, req.encoding_format)
            await send_bytes(send, 200, body, ctx.response_headers)
            return
        route = _admitted_route(ctx)

        def attempt(target: Target, r: ModelRoute) -> Awaitable[EmbeddingResponse]:
            return target.provider.embed(req, target.model, r.timeouts)

        ctx.upstream_started = time.monotonic()
        resp = await self.router.run(ctx, route, attempt)
        ctx.upstream_ended = time.monotonic()
        if resp.usage.input_tokens == 0:
            resp.usage = Usage(input_tokens=sum(estimate_text(t) for t in req.inputs))
            ctx.usage_estimated = True
        ctx.usage = resp.usage
        if ctx.kept:
            resp = await ctx.runtime.pipeline.respond(ctx, resp)
        body = await _encode_embeddings(resp, ctx.served_model or req.model, req.encoding_format)
        await send_bytes(send, 200, body, ctx.response_headers)

    async def _models(self, ctx: RequestContext, send: Send) -> None:
        names = sorted(ctx.runtime.allowed_for(ctx.principal))
        body = formats.encode_model_list([(n, "lockgate") for n in names], created=self.created)
        await send_bytes(send, 200, body, ctx.response_headers)


async def _encode_embeddings(resp: EmbeddingResponse, model: str, encoding_format: str) -> bytes:
    """The response body, encoded a slice of vectors at a time with the loop free in between:
    thousands of vectors take long enough to stall every other request otherwise."""
    if len(resp.vectors) <= EMBEDDINGS_SLICE:
        return formats.encode_embeddings(resp, model=model, encoding_format=encoding_format)
    parts: list[bytes] = []
    for piece in formats.iter_embeddings(
        resp, model=model, encoding_format=encoding_format, slice_size=EMBEDDINGS_SLICE
    ):
        parts.append(piece)
        await asyncio.sleep(0)
    return b"".join(parts)


async def _end_started(
    ctx: RequestContext, fmt: IngressFormat, err: GatewayError, send: Responder
) -> None:
    """A failure after the response started: end a stream with an error event in the client's
    format, never a second response start. A response with a length cannot be ended early: it
    is left incomplete, and the server answers 500 if nothing was written yet, else closes."""
    if not send.done and ctx.chat is not None and ctx.chat.stream:
        await send(
            {"type": "http.response.body", "body": fmt.stream_error(err), "more_body": False}
        )


def _admitted_route(ctx: RequestContext) -> ModelRoute:
    """The route the access policy resolved for this request's model."""
    if ctx.model_route is None:
        raise InternalError(f"no model route was resolved (request id {ctx.request_id})")
    return ctx.model_route


def parse_json(body: bytes) -> object:
    if not body:
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(
            f"the request body is not valid JSON: {err.msg} at byte {err.pos}"
        ) from None


def not_found(path: str) -> NotFound:
    return NotFound(f"no route {path}", code="unknown_route")
