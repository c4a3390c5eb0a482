"""Bytes on the wire: status lines, canned error responses, response-head validation."""

from __future__ import annotations

from http import HTTPStatus
from types import MappingProxyType
from typing import Final

import orjson

STATUS_LINES: Final = MappingProxyType(
    {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode("ascii")) for s in HTTPStatus}
)
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
CHUNKED: Final = b"transfer-encoding: chunked\r\n"
CLOSE: Final = b"connection: close\r\n"
KEEP_ALIVE: Final = b"connection: keep-alive\r\n"
LAST_CHUNK: Final = b"0\r\n\r\n"
# Token characters per RFC 9110 section 5.6.2; anything else in a field name is refused.
TCHAR: Final = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")
NAME_CACHE_MAX: Final = 512


def status_line(status: object) -> bytes:
    line = STATUS_LINES.get(status) if type(status) is int else None
    if line is not None:
        return line
    if type(status) is not int or not 100 <= status <= 999:
        raise RuntimeError(f"invalid response status {status!r}")
    return b"HTTP/1.1 %d \r\n" % status


# The server's own refusals: (OpenAI error type, code, message). The message names the
# setting that decided where there is one, so an operator knows what to change.
REFUSALS: Final = MappingProxyType(
    {
        400: ("invalid_request_error", "bad_request", "the request is not valid HTTP/1.1"),
        408: (
            "invalid_request_error",
            "request_timeout",
            "the request body did not arrive in time (server.limits.body_timeout)",
        ),
        414: (
            "invalid_request_error",
            "uri_too_long",
            "the request target is too long (server.limits.max_header_bytes)",
        ),
        431: (
            "invalid_request_error",
            "request_header_fields_too_large",
            "the request head is too large "
            "(server.limits.max_header_bytes, server.limits.max_headers)",
        ),
        500: ("api_error", "internal_error", "internal error"),
        501: (
            "invalid_request_error",
            "not_implemented",
            "unsupported Transfer-Encoding: only chunked is accepted",
        ),
        503: ("api_error", "unavailable", "the server is shutting down; retry later"),
        505: (
            "invalid_request_error",
            "http_version_not_supported",
            "HTTP version not supported: use HTTP/1.1 or HTTP/1.0",
        ),
    }
)


def canned(
    status: int,
    date_server: bytes,
    request_id: str,
    message: str | None = None,
    retry_after: int = 0,
    close: bool = True,
) -> bytes:
    """A complete error response in the OpenAI envelope; it closes the connection unless
    ``close`` is false (a shed request on a connection that stays open)."""
    kind, code, default = REFUSALS.get(status, ("api_error", "error", HTTPStatus(status).phrase))
    if message is not None:
        default = message
    if status == 503 and message is not None:
        code = "overloaded"
    body = orjson.dumps({"error": {"message": default, "type": kind, "code": code, "param": None}})
    extra = b"retry-after: %d\r\n" % retry_after if retry_after else b""
    return b"".join(
        (
            STATUS_LINES[status],
            date_server,
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-request-id: %s\r\n" % request_id.encode("ascii"),
            extra,
            CLOSE if close else b"",
            b"\r\n",
            body,
        )
    )


def lower_name(name: bytes, cache: dict[bytes, bytes]) -> bytes:
    """The lower-cased, validated header name; names repeat, so they are checked once."""
    lowered = cache.get(name)
    if lowered is not None:
        return lowered
    if type(name) is not bytes:
        raise RuntimeError(f"response header name must be bytes, not {type(name).__name__}")
    lowered = name.lower()
    if not lowered or not TCHAR.issuperset(lowered):
        raise RuntimeError(f"invalid response header name {name!r}")
    if len(cache) < NAME_CACHE_MAX:
        cache[name] = lowered
    return lowered


def check_head(head: bytes, lines: int) -> None:
    """Refuse CR, LF or NUL inside header values (response splitting).

    Every legitimate line ends in exactly one CRLF, so counting CR and LF over the whole head
    checks all values in two C-level scans instead of one scan per value.
    """
    if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\x00" in head:
        raise RuntimeError("response header value contains CR, LF or NUL")
