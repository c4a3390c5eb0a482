"""Fuzz targets: functions of one ``bytes`` input that raise only when they find a bug.

- ``http_server``: the lean server's request path (HttpProtocol with a spy transport): the
  bytes, cut in pieces, are a client's side of a connection. Whatever they are, the server must
  not raise, and what it writes back must parse as HTTP/1.1 responses.
- ``ingress``: the three ingress decoders (OpenAI chat, Anthropic messages, OpenAI embeddings)
  on a JSON document built from the bytes; they may refuse it only with a ``GatewayError``.
- ``upstream_sse``: an upstream event stream, cut in pieces, through the SSE parser and the
  OpenAI, Anthropic or Gemini stream decoder; only ``GatewayError`` or the parser's
  ``EventTooLarge`` may come out.
- ``upstream_response``: raw bytes from an upstream through the client's response parser
  (``upstream.connection``) and a JSON body through the three providers' response decoders.

Every target is deterministic for a given input, so a finding replays as a regression test
(``tests/fuzz/corpus/<target>/``). ``run.py`` runs them under atheris; ``test_fuzz.py`` in
the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

import httptools
import orjson

from lockgate.errors import GatewayError
from lockgate.serving import ServerLimits
from lockgate.serving.context import ServerContext
from lockgate.serving.protocol import HttpProtocol
from lockgate.upstream.connection import Connection
from lockgate.upstream.request import Timeouts
from lockgate.upstream.response import UpstreamResponse
from lockgate.wire import anthropic, gemini, openai
from lockgate.wire.sse import EventTooLarge, SSEParser

# Field names and values the decoders look for, so built documents reach past the first check.
WORDS: Final = (
    "model", "messages", "role", "content", "user", "assistant", "system", "tool", "tools",
    "type", "text", "image_url", "function", "name", "arguments", "parameters", "tool_calls",
    "tool_call_id", "tool_use", "tool_result", "input", "id", "stream", "max_tokens",
    "temperature", "stop", "stream_options", "include_usage", "response_format", "json_schema",
    "encoding_format", "float", "base64", "dimensions", "choices", "delta", "finish_reason",
    "usage", "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "candidates",
    "parts", "functionCall", "args", "usageMetadata", "error", "message", "index", "object",
    "chat.completion", "content_block_start", "content_block_delta", "message_start",
    "message_delta", "message_stop", "text_delta", "input_json_delta", "stop_reason",
    "end_turn", "data", "embedding", "tool_choice", "auto", "required", "source", "media_type",
)  # fmt: skip
LIMITS: Final = ServerLimits(max_header_bytes=2048, max_headers=16, max_discard_bytes=4096)


class Input:
    """Draws small values from the fuzz input, deterministically; zeros once it runs out."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def pieces(self) -> list[bytes]:
        """The rest of the input cut where the input says, as a network would deliver it.

        The next byte is the number of cuts (mod 6), then one byte per cut; the data follows.
        """
        marks = [self.byte() for _ in range(self.byte() % 6)]
        data = self.rest()
        cuts = sorted({mark * 7 % (len(data) + 1) for mark in marks})
        out, start = [], 0
        for cut in [*cuts, len(data)]:
            if cut > start:
                out.append(data[start:cut])
                start = cut
        return out

    def value(self, depth: int = 0) -> Any:
        """A JSON value shaped by the input, leaning on the decoders' vocabulary."""
        kind = self.byte() % (9 if depth < 5 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return self.byte() % 2 == 1
        if kind == 2:
            return self.byte() - 64 + (self.byte() << 8) * (1 if self.byte() % 2 else -1)
        if kind == 3:
            return self.byte() / 7.0
        if kind in (4, 5):
            return WORDS[self.byte() % len(WORDS)] if self.byte() % 4 else self.text()
        if kind in (6, 7):
            return {
                WORDS[self.byte() % len(WORDS)]: self.value(depth + 1)
                for _ in range(self.byte() % 5)
            }
        return [self.value(depth + 1) for _ in range(self.byte() % 4)]

    def text(self) -> str:
        size = self.byte() % 12
        raw = bytes(self.byte() for _ in range(size))
        return raw.decode("utf-8", "replace")


# --- the lean server -------------------------------------------------------------------------


class _Spy(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.out.append(bytes(data))

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 80)}.get(name)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the body, then answers with its size: plainly, streamed, or not at all."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path.startswith("/silent"):
        return  # an app that forgets to answer: the server must answer 500 for it
    body = b"%d" % size
    await send({"type": "http.response.start", "status": 200, "headers": []})
    if path.startswith("/stream"):
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    else:
        await send({"type": "http.response.body", "body": body})


class _ResponseCounter:
    def __init__(self) -> None:
        self.complete = 0

    def on_message_complete(self) -> None:
        self.complete += 1


def http_server(data: bytes, loop: asyncio.AbstractEventLoop) -> None:
    source = Input(data)
    ctx = ServerContext(_app, loop, LIMITS)
    ctx.date_server = b"date: now\r\nserver: lockgate\r\n"
    conn = HttpProtocol(ctx)
    spy = _Spy()
    conn.connection_made(spy)
    for piece in source.pieces():
        conn.data_received(piece)
        loop.run_until_complete(_settle())
    conn.connection_lost(None)
    loop.run_until_complete(_settle())
    if conn.timer is not None:
        conn.timer.cancel()
    if b"HEAD" in data:
        return  # a response to HEAD has a length and no body: not parseable on its own
    parser = httptools.HttpResponseParser(_ResponseCounter())
    try:
        parser.feed_data(b"".join(spy.out))
    except httptools.HttpParserUpgrade:
        raise AssertionError("the server answered with an upgrade") from None


async def _settle() -> None:
    for _ in range(8):  # the app tasks are a few awaits deep
        await asyncio.sleep(0)


# --- ingress decoders ------------------------------------------------------------------------

DECODERS: Final[tuple[Callable[[object], object], ...]] = (
    openai.decode_chat_request,
    anthropic.decode_chat_request,
    openai.decode_embedding_request,
)


def ingress(data: bytes) -> None:
    source = Input(data)
    decode = DECODERS[source.byte() % len(DECODERS)]
    if source.byte() % 4 == 0:
        try:
            document = orjson.loads(source.rest())  # raw JSON text, as a client sends it
        except orjson.JSONDecodeError:
            return
    else:
        document = source.value()
    with contextlib.suppress(GatewayError):
        decode(document)


# --- upstream --------------------------------------------------------------------------------


def _stream_decoder(choice: int) -> Any:
    if choice == 0:
        return openai.ChatStreamDecoder()
    if choice == 1:
        return anthropic.ChatStreamDecoder()
    return gemini.ChatStreamDecoder(model="m")


def upstream_sse(data: bytes) -> None:
    source = Input(data)
    decoder = _stream_decoder(source.byte() % 3)
    parser = SSEParser(max_event_bytes=4096)
    try:
        for piece in source.pieces():
            for event in parser.feed(piece):
                decoder.feed(event)
        for event in parser.close():
            decoder.feed(event)
        decoder.close()
    except (GatewayError, EventTooLarge):
        pass


class _Owner:
    def release(self, conn: Connection, reusable: bool) -> None:
        pass

    def retire(self, conn: Connection) -> None:
        pass


RESPONSE_DECODERS: Final[tuple[Callable[[object], object], ...]] = (
    openai.decode_chat_response,
    anthropic.decode_chat_response,
    lambda body: gemini.decode_chat_response(body, model="m"),
    openai.decode_embedding_response,
)


def upstream_response(data: bytes, loop: asyncio.AbstractEventLoop) -> None:
    source = Input(data)
    if source.byte() % 2:
        decode = RESPONSE_DECODERS[source.byte() % len(RESPONSE_DECODERS)]
        with contextlib.suppress(GatewayError):
            decode(source.value())
        return
    conn = Connection(_Owner(), loop, max_header_bytes=4096)
    conn.connection_made(_Spy())
    resp = UpstreamResponse(conn, loop, max_stream_bytes=65536)
    conn.start(resp, b"GET / HTTP/1.1\r\n\r\n", b"", source.byte() == 1, Timeouts(), 1e9)
    for piece in source.pieces():
        if conn.closed:
            break
        conn.data_received(piece)
    conn.connection_lost(None)
    error = resp._error
    if error is not None and not isinstance(error, GatewayError):
        raise AssertionError(f"the client failed with {type(error).__name__}: {error}")
    conn._cancel_timer()


TARGETS: Final = ("http_server", "ingress", "upstream_sse", "upstream_response")


def bound(name: str, loop: asyncio.AbstractEventLoop) -> Callable[[bytes], None]:
    """The target ``name`` as a function of the input alone (the loop is reused)."""
    if name == "http_server":
        return lambda data: http_server(data, loop)
    if name == "upstream_response":
        return lambda data: upstream_response(data, loop)
    if name == "ingress":
        return ingress
    if name == "upstream_sse":
        return upstream_sse
    raise ValueError(f"no fuzz target {name!r}")
