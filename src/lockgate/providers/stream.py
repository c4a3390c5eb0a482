"""An upstream SSE stream as canonical chunks, primed up to its first token.

``prime()`` reads until the first content chunk (text, tool call or end) within the model's
``first_token`` timeout and buffers what it read. Adapters prime before handing the stream to
routing, so a provider that answers 200 and then stalls, or sends an error event before any
token (an overloaded provider often does), can still be retried or fall back: nothing has
reached the client yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from lockgate.errors import UpstreamError, UpstreamProtocolError, UpstreamTimeout
from lockgate.upstream import UpstreamResponse
from lockgate.wire.passthrough import PassthroughFormat
from lockgate.wire.sse import EventTooLarge, SSEEvent, SSEParser
from lockgate.wire.types import Chunk, StreamStart

# One event's bound when the response carries none (a client built without limits).
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024


class StreamDecoder(Protocol):
    def feed(self, event: SSEEvent) -> list[Chunk]: ...
    def close(self) -> list[Chunk]: ...


class HttpChunkStream:
    __slots__ = ("_buffered", "_chunks", "_closed", "_decoder", "_provider", "_response")

    def __init__(self, response: UpstreamResponse, decoder: StreamDecoder, provider: str) -> None:
        self._response = response
        self._decoder = decoder
        self._provider = provider
        self._closed = False
        self._buffered: list[Chunk] = []
        self._chunks = self._decode()

    async def prime(self, first_token: float) -> None:
        """Buffer chunks up to the first one that is not a ``StreamStart``."""
        try:
            async with asyncio.timeout(first_token):
                async for chunk in self._chunks:
                    self._buffered.append(chunk)
                    if not isinstance(chunk, StreamStart):
                        return
        except TimeoutError:
            await self.aclose()
            raise UpstreamTimeout(
                f"provider '{self._provider}' sent no token within the first_token timeout "
                f"({first_token:g} s)"
            ) from None

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        buffered, self._buffered = self._buffered, []
        for chunk in buffered:
            yield chunk
        async for chunk in self._chunks:
            yield chunk

    async def _decode(self) -> AsyncIterator[Chunk]:
        parser = SSEParser(self._response.max_event_bytes or DEFAULT_MAX_EVENT_BYTES)
        decoder = self._decoder
        try:
            try:
                async for data in self._response.iter_body():
                    for event in parser.feed(data):
                        for chunk in decoder.feed(event):
                            yield chunk
                for event in parser.close():
                    for chunk in decoder.feed(event):
                        yield chunk
            except EventTooLarge as exc:
                raise UpstreamProtocolError(f"{exc} (server.upstream.max_event_bytes)") from None
            for chunk in decoder.close():
                yield chunk
        except UpstreamError as err:
            # Name the configured provider, so the client's error event says who failed.
            if not err.message.startswith("provider '"):
                err.message = f"provider '{self._provider}' stream failed: {err.message}"
                err.args = (err.message,)
            raise
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._response.aclose()


class RawEventStream:
    """An upstream SSE stream relayed as bytes, not decoded (same-format passthrough).

    The body is cut into blocks of whole events (at the last blank line of what arrived), so a
    block can be forwarded as it is. ``prime`` runs the format's canonical decoder over the
    first events only, so a stream is opened exactly as a decoded one is (an error event or a
    stall before the first token can still be retried or fall back); after that nothing is
    parsed here: the format's scanner looks at each block.
    """

    __slots__ = (
        "_blocks",
        "_buffered",
        "_closed",
        "_make_decoder",
        "_max",
        "_response",
        "format",
        "provider",
        "seen",
    )

    def __init__(
        self,
        response: UpstreamResponse,
        make_decoder: Callable[[], StreamDecoder],
        provider: str,
        fmt: PassthroughFormat,
    ) -> None:
        self._response = response
        self._make_decoder = make_decoder
        self._max = response.max_event_bytes or DEFAULT_MAX_EVENT_BYTES
        self.provider = provider
        self.format = fmt
        self._closed = False
        self._buffered: list[bytes] = []
        self.seen: list[bytes] = []  # every block relayed, to count a usage-less stream
        self._blocks = self._cut()

    async def prime(self, first_token: float) -> None:
        decoder = self._make_decoder()
        parser = SSEParser(self._max)
        try:
            async with asyncio.timeout(first_token):
                async for block in self._blocks:
                    self._buffered.append(block)
                    try:
                        for event in parser.feed(block):
                            chunks = decoder.feed(event)
                            if any(not isinstance(c, StreamStart) for c in chunks):
                                return
                    except (UpstreamError, EventTooLarge) as err:
                        raise named(_protocol(err), self.provider) from None
                try:  # the stream ended before its first token: fail while routing can retry
                    decoder.close()
                except UpstreamError as err:
                    raise named(err, self.provider) from None
        except TimeoutError:
            await self.aclose()
            raise UpstreamTimeout(
                f"provider '{self.provider}' sent no token within the first_token timeout "
                f"({first_token:g} s)"
            ) from None
        except BaseException:
            await self.aclose()
            raise

    async def __aiter__(self) -> AsyncIterator[bytes]:
        buffered, self._buffered = self._buffered, []
        seen = self.seen
        for block in buffered:
            seen.append(block)
            yield block
        async for block in self._blocks:
            seen.append(block)
            yield block

    async def _cut(self) -> AsyncIterator[bytes]:
        pending = b""
        limit = self._max
        try:
            async for data in self._response.iter_body():
                pending += data
                end = _last_boundary(pending)
                if end:
                    block, pending = pending[:end], pending[end:]
                    yield block
                if len(pending) > limit:
                    raise UpstreamProtocolError(
                        f"a server-sent event exceeds {limit} bytes"
                        " (server.upstream.max_event_bytes)"
                    )
            if pending.strip():
                yield pending + b"\n\n"  # a last event without its blank line
        except UpstreamError as err:
            raise named(err, self.provider) from None
        finally:
            await self.aclose()

    def decoded(self) -> list[Chunk]:
        """The canonical chunks of the blocks relayed so far, as far as they decode (a cut
        stream's end is missing): to count what a stream produced when its provider reported
        no usage. Runs a fresh parser and decoder, so it costs nothing unless called."""
        decoder = self._make_decoder()
        parser = SSEParser(self._max)
        out: list[Chunk] = []
        try:
            for block in self.seen:
                for event in parser.feed(block):
                    out.extend(decoder.feed(event))
        except (UpstreamError, EventTooLarge):
            pass
        return out

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._response.aclose()


def _last_boundary(data: bytes) -> int:
    """The end of the last complete event in ``data`` (after its blank line), or 0."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def _protocol(err: UpstreamError | EventTooLarge) -> UpstreamError:
    if isinstance(err, UpstreamError):
        return err
    return UpstreamProtocolError(f"{err} (server.upstream.max_event_bytes)")


def named(err: UpstreamError, provider: str) -> UpstreamError:
    """Name the configured provider, so the client's error says who failed."""
    if not err.message.startswith("provider '"):
        err.message = f"provider '{provider}' stream failed: {err.message}"
        err.args = (err.message,)
    return err
