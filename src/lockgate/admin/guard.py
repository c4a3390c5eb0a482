"""``AdminGuard``: the raw-ASGI door of the admin API, in front of FastAPI.

FastAPI reads and parses a request body before it resolves the dependency that checks the
admin key, so without this door anyone could make the process buffer (and JSON-parse) a body
of any size. The guard, per request and in this order:

1. answers 401 unless ``Authorization: Bearer <admin key>`` names a known admin key (the
   OpenAPI document stays public), without reading a byte of the body;
2. answers 413 when the body is larger than ``max_body_bytes``, as soon as that is known
   (``Content-Length`` up front, or the running count of a chunked body);
3. hands the body it read, in one message, to the API.

Every admin response carries ``x-request-id``. Errors use the admin envelope
(``{"error": {message, type, code, param}}``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from lockgate.errors import AuthenticationFailed, GatewayError, PayloadTooLarge
from lockgate.identity.principal import AdminPrincipal, scope_admin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS: Final = frozenset({"/openapi.json"})
UNAUTHENTICATED: Final = (
    "admin API: missing or unknown admin key (send Authorization: Bearer <admin key>)"
)


class BodyTooLarge(Exception):
    pass


class AdminGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        admin_auth: Callable[[str], AdminPrincipal | None],
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.admin_auth = admin_auth
        self.max_body_bytes = max_body_bytes
        self._prefix = "req_" + os.urandom(5).hex() + "a"
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = f"{self._prefix}{next(self._ids):x}".encode()
        send = _with_request_id(send, rid)
        if _relative(scope) not in PUBLIC_PATHS and not self._authenticated(scope):
            err = AuthenticationFailed(UNAUTHENTICATED, headers={"www-authenticate": "Bearer"})
            await _fail(send, err)
            return
        try:
            body = await self._read(scope, receive)
        except BodyTooLarge:
            await _fail(send, self._too_large())
            return
        if body is None:
            return  # the client went away before its body arrived
        await self.app(scope, _replay(body, receive), send)

    def _authenticated(self, scope: Scope) -> bool:
        if scope_admin(scope) is not None:
            return True  # an in-process call by the web console for a signed-in key
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").strip().partition(" ")
                token = token.strip()
                return (
                    scheme.lower() == "bearer"
                    and bool(token)
                    and self.admin_auth(token) is not None
                )
        return False

    async def _read(self, scope: Scope, receive: Receive) -> bytes | None:
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                raise BodyTooLarge
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"admin API: the request body exceeds the limit of {self.max_body_bytes} bytes"
            " (server.max_admin_body_bytes)"
        )


def _relative(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _with_request_id(send: Send, rid: bytes) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid)]
        await send(message)

    return wrapped


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body in one message, then the real receive (which reports the disconnect)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _fail(send: Send, err: GatewayError) -> None:
    body = err.openai_body()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        *((k.encode(), v.encode()) for k, v in err.headers.items()),
    ]
    await send({"type": "http.response.start", "status": err.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
