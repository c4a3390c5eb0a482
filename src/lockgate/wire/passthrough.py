"""Same-format passthrough: the contract of a wire format that can relay a client's own body.

When the client speaks the provider's format and no policy of the request looks at the
response, the gateway sends the client's JSON body with only what it owns changed (the model
name; for streams, the request for usage) and relays the reply and the stream as the provider
wrote them, so every current and future parameter and content block reaches both ends. Usage is
still read exactly: from the reply's ``usage``, and from the few stream events that carry it,
found by a substring test before anything is parsed.

A format supplies three pure functions (``openai_passthrough``, ``anthropic_passthrough``):
``prepare`` (client body -> upstream body), ``reply`` (upstream reply -> client bytes and
usage) and ``scanner`` (one per stream: upstream events -> client bytes, usage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from lockgate.wire.sse import SSEEvent, SSEParser
from lockgate.wire.types import ChatResponse, Usage

# Counts what a stream produced so far, for a stream whose provider reports no usage.
Counter = Callable[[], Usage]


class StreamScanner(Protocol):
    """Follows one passthrough stream: what to forward, and what it reports."""

    usage: Usage | None  # the provider's final usage, once reported
    input_usage: Usage | None  # input tokens reported at the start (Anthropic)
    ended: bool  # the provider finished the response (a cut stream did not)

    def block(self, data: bytes) -> bytes:
        """The bytes to send the client for a block of whole events as they arrived
        (``b""`` to send nothing); raises a ``GatewayError`` for an error event. A block
        without any of the format's marks is forwarded as it is, without being parsed."""
        ...


def events_of(data: bytes) -> list[SSEEvent]:
    """The events of a block of whole events (the slow path of a scanner)."""
    parser = SSEParser()
    return [*parser.feed(data), *parser.close()]


@dataclass(frozen=True, slots=True)
class PassthroughFormat:
    name: str  # the ingress format's name it serves (``IngressFormat.name``)
    prepare: Callable[[dict[str, Any], str, bool], dict[str, Any]]  # body, model, stream
    # (parsed reply, its bytes, the client's model) -> (client bytes, usage)
    reply: Callable[[dict[str, Any], bytes, str], tuple[bytes, Usage | None]]
    decode: Callable[[object], ChatResponse]  # the reply, canonical (to count when no usage)
    scanner: Callable[[str, bool, Counter], StreamScanner]  # client model, include_usage
    # Client request headers that belong to the request (feature opt-ins such as
    # ``anthropic-beta``) and go upstream with the client's body; lower-case.
    forwarded_headers: tuple[bytes, ...] = ()

    def client_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
        wanted = self.forwarded_headers
        if not wanted:
            return []
        return [(k.decode(), v.decode("latin-1")) for k, v in headers if k in wanted]


@dataclass(slots=True)
class RawReply:
    """A complete upstream reply, parsed but not decoded, with the format that reads it."""

    body: dict[str, Any]
    format: PassthroughFormat
    raw: bytes = b""  # as the provider wrote it


def with_model(body: dict[str, Any], raw: bytes, model: str) -> bytes:
    """The reply's bytes with its top-level ``model`` set to the client's: replaced in place
    when the provider's value occurs exactly once (a string inside content is escaped, so it
    cannot match), else the parsed body re-serialised."""
    upstream = body.get("model")
    if upstream == model and raw:
        return raw
    if isinstance(upstream, str) and raw:
        value, new = orjson.dumps(upstream), orjson.dumps(model)
        for sep in (b":", b": "):
            old = b'"model"' + sep + value
            if raw.count(old) == 1:
                return raw.replace(old, b'"model"' + sep + new)
    body["model"] = model
    return orjson.dumps(body)
