"""What every vendor format of the mock implements, and the values they exchange with the server.

A format is pure: it turns a parsed JSON body into a ``ChatCall`` and a ``MockReply`` into
bytes. Timing, directives, failures and I/O belong to ``server.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from lockgate.mock.engine import ChatCall, MockReply

# ASGI, without a framework
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

Headers = dict[bytes, bytes]
Query = dict[str, list[str]]
# An auth check: None when the request may pass, else (status, message) for the error envelope.
AuthCheck = Callable[[Headers, Query], "tuple[int, str] | None"]


class BadRequest(Exception):
    """The request body is not acceptable; answered with 400 in the vendor's envelope."""


@dataclass(slots=True)  # per request: not frozen, frozen __init__ is slower
class MockUsage:
    input_tokens: int  # every prompt token, cached or not
    output_tokens: int  # reasoning included
    cached: int = 0  # prompt tokens read from the cache
    cache_write: int = 0  # prompt tokens written to the cache
    reasoning: int = 0


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """A whole stream, precomputed: the server only decides when each piece goes out.

    ``head`` goes out after the latency, ``tokens`` after the time-to-first-token and paced by
    the token rate, ``tail`` right after the last token.
    """

    content_type: bytes
    head: list[bytes]
    tokens: list[bytes]
    tail: list[bytes]


class ChatFormat(Protocol):
    def error(self, status: int, message: str) -> bytes: ...

    def overflow(self, tokens: int) -> bytes:
        """The vendor's 400 body for a prompt longer than the context window."""
        ...

    def parse_chat(self, data: dict[str, Any], model: str | None, stream: bool | None) -> ChatCall:
        """``model``/``stream`` come from the URL when the format puts them there."""
        ...

    def render(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> bytes: ...

    def render_stream(
        self, call: ChatCall, reply: MockReply, usage: MockUsage | None, rid: str, created: int
    ) -> StreamPlan: ...


# A non-chat endpoint (embeddings, token counts, model list): body -> response body.
# Arguments: the parsed JSON body, the model from the URL (if any), and whether to omit usage.
SimpleEndpoint = Callable[[dict[str, Any], "str | None", bool], bytes]


def text_of(content: Any) -> str:
    """Text of a content value that is a string or a list of ``{"type": "text"}`` blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def require_list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise BadRequest(f"'{key}' must be a non-empty array")
    return value


def optional_int(data: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest(f"'{key}' must be an integer")
        return value
    return None
