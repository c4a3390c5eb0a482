"""OpenAI chat completions relayed as the provider wrote them (see ``passthrough``).

The gateway owns ``model`` (the deployment's) and, for streams, ``stream_options.include_usage``
(always on, so settlement gets exact tokens); everything else the client sent goes upstream
unchanged. Stream events are forwarded as they came, with the model name swapped by a string
replacement; only the usage chunk and error events are parsed. The usage chunk is held back
when the client did not ask for it, and a counted one is added before ``[DONE]`` when the
client asked for usage and the server sent none.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from lockgate.errors import UpstreamProtocolError
from lockgate.wire.openai_response import decode_chat_response, usage_from_openai, usage_to_openai
from lockgate.wire.openai_stream import stream_error
from lockgate.wire.passthrough import Counter, PassthroughFormat, events_of, with_model
from lockgate.wire.sse import SSEEvent, encode_event
from lockgate.wire.types import Usage

_DONE = b"data: [DONE]\n\n"
_USAGE_MARKS = ('"usage":{', '"usage": {')
_FINISH_MARKS = ('"finish_reason":"', '"finish_reason": "')
# A block holding none of these is forwarded with only the model name swapped (one C-speed
# scan of the block rather than a test per mark).
_SLOW = re.compile(rb'"usage": ?\{|"error"|\[DONE\]|event:')
_FINISH = re.compile(rb'"finish_reason": ?"')


def prepare(body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    out = dict(body)
    out["model"] = model
    if stream:
        options = body.get("stream_options")
        out["stream_options"] = (
            {**options, "include_usage": True}
            if isinstance(options, dict)
            else {"include_usage": True}
        )
    return out


def reply(body: dict[str, Any], raw: bytes, model: str) -> tuple[bytes, Usage | None]:
    return with_model(body, raw, model), usage_from_openai(body.get("usage"))


def _model_swaps(upstream: str, client: str) -> list[tuple[str, str]]:
    if upstream == client:
        return []
    old, new = orjson.dumps(upstream).decode(), orjson.dumps(client).decode()
    return [('"model":' + old, '"model":' + new), ('"model": ' + old, '"model": ' + new)]


class Scanner:
    __slots__ = (
        "_byte_swaps",
        "_count",
        "_created",
        "_id",
        "_include_usage",
        "_model",
        "_swaps",
        "ended",
        "input_usage",
        "usage",
    )

    def __init__(self, model: str, include_usage: bool, count: Counter) -> None:
        self._model = model
        self._include_usage = include_usage
        self._count = count
        self._swaps: list[tuple[str, str]] | None = None  # learnt from the first chunk
        self._byte_swaps: list[tuple[bytes, bytes]] | None = None
        self._id = ""
        self._created = 0
        self.usage: Usage | None = None
        self.input_usage: Usage | None = None
        self.ended = False

    def block(self, data: bytes) -> bytes:
        swaps = self._byte_swaps
        if swaps is not None and _SLOW.search(data) is None:
            if not self.ended and _FINISH.search(data) is not None:
                self.ended = True
            for old, new in swaps:
                data = data.replace(old, new)
            return data
        return b"".join(self.event(e) for e in events_of(data))

    def event(self, event: SSEEvent) -> bytes:
        data = event.data
        if data == "[DONE]":
            self.ended = True
            if self.usage is None and self._include_usage:
                return self._counted_usage() + _DONE
            return _DONE
        if self._swaps is None or '"error"' in data or any(m in data for m in _USAGE_MARKS):
            obj = self._parse(data)
            if obj.get("error") is not None or event.event == "error":
                raise stream_error(obj)
            usage = usage_from_openai(obj.get("usage"))
            if usage is not None:
                self.usage = usage
                self.ended = True
                if not obj.get("choices") and not self._include_usage:
                    return b""  # the client did not ask for the usage chunk
        elif not self.ended and any(m in data for m in _FINISH_MARKS):
            self.ended = True
        for old, new in self._swaps or ():
            if old in data:
                data = data.replace(old, new, 1)
                break
        return encode_event(data.encode())

    def _parse(self, data: str) -> dict[str, Any]:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            raise UpstreamProtocolError("upstream sent a stream event that is not a JSON object")
        if self._swaps is None and (obj.get("choices") or obj.get("usage")):
            # The first real chunk (Azure opens with a prompt-filter chunk without a model).
            model = obj.get("model")
            self._swaps = _model_swaps(model, self._model) if isinstance(model, str) else []
            self._byte_swaps = [(a.encode(), b.encode()) for a, b in self._swaps]
            self._id = str(obj.get("id") or "")
            created = obj.get("created")
            self._created = created if isinstance(created, int) else 0
        return obj

    def _counted_usage(self) -> bytes:
        usage = self._count()
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [],
            "usage": usage_to_openai(usage),
        }
        return encode_event(orjson.dumps(chunk))


OPENAI_PASSTHROUGH = PassthroughFormat(
    name="openai",
    prepare=prepare,
    reply=reply,
    decode=decode_chat_response,
    scanner=Scanner,
    forwarded_headers=(b"openai-beta",),
)
