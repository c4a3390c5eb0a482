"""What a caller asks of an upstream, the time it allows, and the bytes put on the wire."""

from __future__ import annotations

from dataclasses import dataclass

# Framing and hop-by-hop headers are ours to write: letting a caller pass them through would
# let a client-controlled value change how the upstream splits requests (smuggling).
_OWNED_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
# Past this a body is written separately rather than copied into one buffer with the head.
_JOIN_LIMIT = 256 * 1024


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes = b""


@dataclass(slots=True, frozen=True)
class Timeouts:
    connect: float = 5.0
    first_byte: float = 30.0
    idle: float = 30.0
    total: float = 300.0


def split_url(url: str) -> tuple[str, str]:
    """Split an absolute URL into its origin (``scheme://authority``) and request target."""
    start = url.find("://")
    if start < 0:
        raise ValueError("upstream URL must be absolute (http:// or https://)")
    slash = url.find("/", start + 3)
    if slash < 0:
        slash = len(url)
    origin = url[:slash]
    target = url[slash:] or "/"
    query = origin.find("?")
    if query >= 0:
        target = "/" + url[query:]
        origin = url[:query]
    return origin, target


def encode_request(req: UpstreamRequest, target: str, host: str) -> tuple[bytes, bytes]:
    """Return the request head and the body to send after it (empty when joined into the head).

    Raises ValueError for a method, target or header that would break HTTP framing.
    """
    method = req.method
    if not method.isalpha() or " " in target:
        raise ValueError("invalid method or request target for upstream request")
    lines: list[str] = []
    has_host = has_encoding = False
    for name, value in req.headers:
        lname = name.lower()
        if lname in _OWNED_HEADERS:
            continue
        if lname == "host":
            has_host = True
        elif lname == "accept-encoding":
            has_encoding = True
        lines.append(f"{name}: {value}\r\n")
    body = req.body
    if not has_host:
        lines.append(f"Host: {host}\r\n")
    if not has_encoding:
        lines.append("Accept-Encoding: identity\r\n")
    if body or method not in _BODYLESS_METHODS:
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("Connection: keep-alive\r\n\r\n")
    text = f"{method} {target} HTTP/1.1\r\n" + "".join(lines)
    # Each line we built ends in exactly one CRLF, plus the request line and the blank line:
    # any other CR or LF came from the caller and would inject a header or a request.
    expected = len(lines) + 2
    if text.count("\n") != expected or text.count("\r") != expected:
        raise ValueError("CR or LF in an upstream request header or target")
    head = text.encode("latin-1")
    if len(body) <= _JOIN_LIMIT:
        return head + body, b""
    return head, body
