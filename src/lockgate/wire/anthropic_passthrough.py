"""Anthropic Messages relayed as the provider wrote them (see ``passthrough``).

The gateway owns ``model``; ``thinking``, ``cache_control`` markers, server tools, documents,
betas' fields and whatever Anthropic adds next go upstream unchanged, and thinking blocks with
their signatures come back unchanged. In a stream only ``message_start`` (model, input usage),
``message_delta`` (final usage) and ``error`` are parsed; every other event is forwarded as is.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from lockgate.errors import UpstreamProtocolError
from lockgate.wire.anthropic_response import decode_chat_response, usage_from_anthropic
from lockgate.wire.anthropic_stream import stream_error
from lockgate.wire.passthrough import Counter, PassthroughFormat, events_of, with_model
from lockgate.wire.sse import SSEEvent, encode_event
from lockgate.wire.types import Usage

# Events whose data the scanner reads; a block without any is forwarded as it is. A relay
# that drops the ``event:`` lines still has the type in the data.
_SLOW = re.compile(rb'message_(?:start|delta|stop)|event: error|"type": ?"error"')


def prepare(body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    out = dict(body)
    out["model"] = model
    return out


def reply(body: dict[str, Any], raw: bytes, model: str) -> tuple[bytes, Usage | None]:
    return with_model(body, raw, model), usage_from_anthropic(body.get("usage"))


def _parse(data: str) -> dict[str, Any]:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Anthropic stream sent an event that is not JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamProtocolError("Anthropic stream sent an event that is not an object")
    return obj


class Scanner:
    __slots__ = ("_count", "_model", "_raw", "ended", "input_usage", "usage")

    def __init__(self, model: str, include_usage: bool, count: Counter) -> None:
        self._model = model
        self._count = count
        self._raw: dict[str, Any] = {}  # Anthropic's usage fields; later events override
        self.usage: Usage | None = None
        self.input_usage: Usage | None = None
        self.ended = False

    def block(self, data: bytes) -> bytes:
        if _SLOW.search(data) is None:
            return data  # content blocks and deltas, thinking and signatures included
        return b"".join(self.event(e) for e in events_of(data))

    def event(self, event: SSEEvent) -> bytes:
        kind = event.event
        if kind is None:  # a relay that dropped the event lines: the type is in the data
            kind = str(_parse(event.data).get("type"))
        if kind == "message_start":
            return self._start(event.data)
        if kind == "message_delta":
            return self._delta(event.data)
        if kind == "message_stop":
            self.ended = True
        elif kind == "error":
            raise stream_error(_parse(event.data))
        return encode_event(event.data.encode(), kind)

    def _start(self, data: str) -> bytes:
        obj = _parse(data)
        message = obj.get("message")
        if isinstance(message, dict):
            raw = message.get("usage")
            if isinstance(raw, dict):
                self._raw.update(raw)
                self.input_usage = usage_from_anthropic(raw)
            else:  # a provider that reports none: the client gets the counted prompt
                message["usage"] = {"input_tokens": self._count().input_tokens, "output_tokens": 0}
            message["model"] = self._model
        return encode_event(orjson.dumps(obj), "message_start")

    def _delta(self, data: str) -> bytes:
        obj = _parse(data)
        raw = obj.get("usage")
        if isinstance(raw, dict) and raw.get("output_tokens") is not None:
            self._raw.update({k: v for k, v in raw.items() if v is not None})
            self.usage = usage_from_anthropic(self._raw)
            self.ended = True
            return encode_event(data.encode(), "message_delta")
        # The provider reported no output count: settle and tell the client a counted one.
        counted = self._count()
        self.ended = True
        obj["usage"] = {"output_tokens": counted.output_tokens}
        return encode_event(orjson.dumps(obj), "message_delta")


ANTHROPIC_PASSTHROUGH = PassthroughFormat(
    name="anthropic",
    prepare=prepare,
    reply=reply,
    decode=decode_chat_response,
    scanner=Scanner,
    # Betas turn on features the body then uses (interleaved thinking, 1-hour cache TTLs,
    # context management...): a body that needs them is useless without them.
    forwarded_headers=(b"anthropic-beta",),
)
