"""The wire format of API products (``POST /apis/{name}/{version}``): pure encoders.

A complete answer is ``{"output": ..., "model": ..., "usage": {"input_tokens",
"output_tokens", "total_tokens"}}``; ``output`` is the model's text, or the JSON value it
produced when the API has an output schema (``finish`` checks and parses it).

A streamed answer is server-sent events::

    event: delta
    data: {"text": "Once"}

    event: done
    data: {"output": "Once upon a time", "model": "...", "usage": {...}}

and, when the stream fails after it started, ``event: error`` with the error envelope.
Errors are ``{"error": {"message", "type", "code", "param"}}``, as on the OpenAI routes.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from lockgate.errors import GatewayError, InvalidRequest
from lockgate.wire.formats import IngressFormat
from lockgate.wire.sse import encode_event
from lockgate.wire.types import ChatRequest, ChatResponse, Chunk, StreamEnd, TextDelta, Usage

# The model's text -> the output value (the text itself, or parsed and checked JSON).
Finish = Callable[[str], object]


def usage_body(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def encode_response(resp: ChatResponse, model: str, finish: Finish) -> bytes:
    output = finish(resp.text())
    return orjson.dumps({"output": output, "model": model, "usage": usage_body(resp.usage)})


class ApiStreamEncoder:
    """Text deltas as ``delta`` events; the whole output, model and usage in ``done``."""

    __slots__ = ("_finish", "_model", "_parts", "_usage")

    def __init__(self, model: str, finish: Finish) -> None:
        self._model = model
        self._finish = finish
        self._parts: list[str] = []
        self._usage: Usage | None = None

    def encode(self, chunk: Chunk) -> bytes:
        if isinstance(chunk, TextDelta):
            if not chunk.text:
                return b""
            self._parts.append(chunk.text)
            return encode_event(orjson.dumps({"text": chunk.text}), "delta")
        if isinstance(chunk, StreamEnd):
            self._usage = chunk.usage
        return b""

    def close(self) -> bytes:
        """The ``done`` event; raises (a ``GatewayError``) when the output is invalid."""
        output = self._finish("".join(self._parts))
        body = {"output": output, "model": self._model, "usage": usage_body(self._usage)}
        return encode_event(orjson.dumps(body), "done")


def _error_body(err: GatewayError) -> bytes:
    return err.openai_body()


def _stream_error(err: GatewayError) -> bytes:
    return encode_event(err.openai_body(), "error")


def _text(text: str) -> object:
    return text


def ingress_format(decode: Callable[[object], ChatRequest], finish: Finish) -> IngressFormat:
    """The codec of one API version: its request builder and its output check."""
    return IngressFormat(
        name="api",
        decode_chat=decode,
        encode_chat=lambda resp, model, _reasoning: encode_response(resp, model, finish),
        stream_encoder=lambda model, _usage, _reasoning: ApiStreamEncoder(model, finish),
        error_body=_error_body,
        stream_error=_stream_error,
    )


def _unresolved(_: object) -> ChatRequest:
    raise InvalidRequest("no API version was resolved")


# Errors before a version is resolved (authentication, an unknown API) use this codec.
API_FORMAT = ingress_format(_unresolved, _text)
