"""The provider contract and the shared machinery of HTTP-speaking adapters.

A ``Provider`` turns canonical requests into answers. HTTP adapters subclass ``HttpProvider``
and supply only what differs per vendor: how to build the upstream request, how to parse the
reply or the stream, and how to read an error body. All network I/O goes through
``lockgate.upstream``.

``open_stream`` returns only once the upstream answered 200 with headers, so routing can still
retry or fall back; errors after that surface from iteration and end the client's stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, Protocol

import orjson

from lockgate.config.models import ProviderConfig
from lockgate.errors import UpstreamError, UpstreamProtocolError, UpstreamStatusError
from lockgate.providers.overflow import is_context_overflow
from lockgate.providers.stream import HttpChunkStream, RawEventStream, StreamDecoder
from lockgate.upstream import Timeouts, UpstreamClient, UpstreamRequest, UpstreamResponse
from lockgate.upstream.request import split_url
from lockgate.wire.passthrough import PassthroughFormat, RawReply
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    Chunk,
    EmbeddingRequest,
    EmbeddingResponse,
)

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
HEALTH_BODY_LIMIT = 1024 * 1024


class ChunkStream(Protocol):
    def __aiter__(self) -> AsyncIterator[Chunk]: ...
    async def aclose(self) -> None: ...


class Provider(Protocol):
    kind: ClassVar[str]  # the config's provider type, for logs and records
    # The wire format whose clients' bodies this provider takes as they are, or None.
    passthrough: ClassVar[PassthroughFormat | None]
    name: str
    region: str | None

    async def chat(self, req: ChatRequest, model: str, timeouts: Timeouts) -> ChatResponse: ...
    async def open_stream(
        self, req: ChatRequest, model: str, timeouts: Timeouts
    ) -> ChunkStream: ...
    async def embed(
        self, req: EmbeddingRequest, model: str, timeouts: Timeouts
    ) -> EmbeddingResponse: ...
    async def count_tokens(self, req: ChatRequest, model: str, timeouts: Timeouts) -> int | None:
        """The provider's own count, or None when it has no counting endpoint."""
        ...

    def dropped_params(self, req: ChatRequest) -> list[str]:
        """Fields set on ``req`` that this provider's requests do not carry and that do not
        change the answer (those that would are refused by the codecs with 400)."""
        ...

    async def aclose(self) -> None: ...


class HttpProvider:
    """Base of adapters that call a provider over HTTP."""

    kind: ClassVar[str] = "http"
    passthrough: ClassVar[PassthroughFormat | None] = None

    def __init__(self, name: str, cfg: ProviderConfig, client: UpstreamClient) -> None:
        self.name = name
        self.cfg = cfg
        self.region = cfg.region
        self.client = client
        self.api_key = cfg.api_key.get_secret_value() if cfg.api_key else ""

    # --- what each vendor supplies -----------------------------------------------------------

    def chat_request(self, req: ChatRequest, model: str) -> UpstreamRequest:
        raise NotImplementedError

    def chat_url(self, model: str) -> str:
        """Where chat requests go; used by the passthrough of formats that have one."""
        raise NotImplementedError

    def parse_chat(self, body: object, model: str) -> ChatResponse:
        raise NotImplementedError

    def dropped_params(self, req: ChatRequest) -> list[str]:
        raise NotImplementedError

    def stream_decoder(self, model: str) -> StreamDecoder:
        raise NotImplementedError

    def embed_request(self, req: EmbeddingRequest, model: str) -> UpstreamRequest:
        raise NotImplementedError

    def parse_embed(self, body: object, model: str) -> EmbeddingResponse:
        raise NotImplementedError

    def count_request(self, req: ChatRequest, model: str) -> UpstreamRequest | None:
        return None

    def parse_count(self, body: object) -> int:
        raise NotImplementedError

    def decode_error(self, status: int, body: bytes) -> tuple[str, str | None, str | None]:
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------

    def headers(self, *extra: tuple[str, str]) -> list[tuple[str, str]]:
        base = [("content-type", "application/json"), ("accept", "application/json")]
        base.extend(extra)
        base.extend(self.cfg.headers.items())
        return base

    def error(self, status: int, body: bytes, response: UpstreamResponse) -> UpstreamStatusError:
        message, kind, param = self.decode_error(status, body)
        retry_after: float | None = None
        raw = response.header("retry-after")
        if raw:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
        text = f"provider '{self.name}' answered {status}: {message}"
        return UpstreamStatusError(
            status,
            text,
            provider=self.name,
            upstream_type=kind,
            param=param,
            retry_after=retry_after,
            context_overflow=is_context_overflow(status, kind, message),
        )

    async def _exchange_raw(self, request: UpstreamRequest, timeouts: Timeouts) -> bytes:
        response = await self.client.send(request, timeouts)
        try:
            body = await response.read(MAX_RESPONSE_BYTES)
        finally:
            await response.aclose()
        if response.status != 200:
            raise self.error(response.status, body, response)
        return body

    async def _exchange(self, request: UpstreamRequest, timeouts: Timeouts) -> object:
        body = await self._exchange_raw(request, timeouts)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"provider '{self.name}' returned a body that is not JSON"
            ) from None

    async def chat(self, req: ChatRequest, model: str, timeouts: Timeouts) -> ChatResponse:
        return self.parse_chat(await self._exchange(self.chat_request(req, model), timeouts), model)

    async def open_stream(self, req: ChatRequest, model: str, timeouts: Timeouts) -> ChunkStream:
        response = await self.client.send(self.chat_request(req, model), timeouts)
        if response.status != 200:
            try:
                body = await response.read(1024 * 1024)
            finally:
                await response.aclose()
            raise self.error(response.status, body, response)
        stream = HttpChunkStream(response, self.stream_decoder(model), self.name)
        await stream.prime(timeouts.first_byte)
        return stream

    def _passthrough_request(
        self,
        body: dict[str, Any],
        model: str,
        stream: bool,
        headers: list[tuple[str, str]] | None,
    ) -> tuple[PassthroughFormat, UpstreamRequest]:
        fmt = self.passthrough
        if fmt is None:
            raise NotImplementedError(f"provider type {self.kind} has no passthrough")
        payload = json_body(self.adapt_passthrough(fmt.prepare(body, model, stream)))
        sent = self.request_headers()
        if headers:
            sent = [*sent, *headers]
        return fmt, UpstreamRequest("POST", self.chat_url(model), sent, payload)

    def adapt_passthrough(self, body: dict[str, Any]) -> dict[str, Any]:
        """What this server's dialect of the format needs changed in a client's body (the
        prepared copy; the client's own is untouched). Nothing by default."""
        return body

    def request_headers(self) -> list[tuple[str, str]]:
        return getattr(self, "_headers", None) or self.headers()

    async def chat_passthrough(
        self,
        body: dict[str, Any],
        model: str,
        timeouts: Timeouts,
        headers: list[tuple[str, str]] | None = None,
    ) -> RawReply:
        """The client's own body (same wire format) sent with only the model changed; the
        reply parsed, not decoded."""
        fmt, request = self._passthrough_request(body, model, False, headers)
        raw = await self._exchange_raw(request, timeouts)
        try:
            reply = orjson.loads(raw)
        except orjson.JSONDecodeError:
            reply = None
        if not isinstance(reply, dict):
            raise UpstreamProtocolError(
                f"provider '{self.name}' returned a body that is not a JSON object"
            )
        return RawReply(reply, fmt, raw)

    async def open_passthrough(
        self,
        body: dict[str, Any],
        model: str,
        timeouts: Timeouts,
        headers: list[tuple[str, str]] | None = None,
        *,
        decode: bool,
    ) -> RawEventStream | HttpChunkStream:
        """The client's own body, streamed; the events relayed as they are, or decoded into
        chunks (``decode``) when a policy looks at them. ``headers``: the client's headers of
        the format's ``forwarded_headers`` (e.g. ``anthropic-beta``)."""
        fmt, request = self._passthrough_request(body, model, True, headers)
        response = await self.client.send(request, timeouts)
        if response.status != 200:
            try:
                error = await response.read(1024 * 1024)
            finally:
                await response.aclose()
            raise self.error(response.status, error, response)
        stream: RawEventStream | HttpChunkStream
        if decode:
            stream = HttpChunkStream(response, self.stream_decoder(model), self.name)
        else:
            stream = RawEventStream(response, lambda: self.stream_decoder(model), self.name, fmt)
        await stream.prime(timeouts.first_byte)
        return stream

    async def embed(
        self, req: EmbeddingRequest, model: str, timeouts: Timeouts
    ) -> EmbeddingResponse:
        return self.parse_embed(
            await self._exchange(self.embed_request(req, model), timeouts), model
        )

    async def count_tokens(self, req: ChatRequest, model: str, timeouts: Timeouts) -> int | None:
        request = self.count_request(req, model)
        if request is None:
            return None
        return self.parse_count(await self._exchange(request, timeouts))

    async def check_health(self, path: str, limit: float) -> str | None:
        """One active health check: ``None`` when ``GET path`` on the provider's host answers
        2xx within ``limit`` seconds, else why not (shown in logs and ``/admin/v1/deployments``)."""
        base = getattr(self, "base_url", None)
        if not isinstance(base, str):
            return "the provider has no base URL to check"
        origin, _ = split_url(base)
        auth = getattr(self, "_headers", None) or self.headers()
        headers = [(k, v) for k, v in auth if k.lower() != "content-type"]
        wait = Timeouts(connect=limit, first_byte=limit, idle=limit, total=limit)
        try:
            response = await self.client.send(UpstreamRequest("GET", origin + path, headers), wait)
            try:
                await response.read(HEALTH_BODY_LIMIT)
            finally:
                await response.aclose()
        except UpstreamError as err:
            return err.message
        except (OSError, ValueError) as err:
            return f"{type(err).__name__} calling {path}"
        if 200 <= response.status < 300:
            return None
        return f"HTTP {response.status} from {path}"

    async def aclose(self) -> None:
        return None


def passthrough_to(provider: Provider, ingress: str) -> HttpProvider | None:
    """The provider, when it takes bodies of the ``ingress`` wire format as they are (an adapter
    without the attribute, such as a test double, takes none)."""
    fmt: PassthroughFormat | None = getattr(provider, "passthrough", None)
    if fmt is not None and fmt.name == ingress and isinstance(provider, HttpProvider):
        return provider
    return None


def json_body(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)
