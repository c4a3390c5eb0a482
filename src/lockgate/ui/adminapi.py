"""In-process calls from the web UI to the admin API, on behalf of the signed-in admin key.

The console and the portal never touch the store themselves: every read and every change is
a request to the admin API's own ASGI app (the audited one the gateway mounts at
``/admin/v1``), with the caller's principal in the scope. Role checks, tenant scoping (404 for
another tenant's objects), validation and the audit trail are therefore exactly the admin
API's, not copies of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from lockgate.identity.principal import SCOPE_ADMIN, AdminPrincipal

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]
PREFIX = "/admin/v1"


class AdminApiError(Exception):
    """The admin API refused a call; ``status`` and ``message`` are its own."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class AdminApi:
    app: Callable[[], ASGIApp]  # read per call: the gateway builds the admin app once

    async def call(
        self,
        caller: AdminPrincipal,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | None] | None = None,
        body: Any = None,
    ) -> Any:
        """The decoded JSON answer (None for 204); raises ``AdminApiError`` for >= 400."""
        payload = b"" if body is None else orjson.dumps(body)
        qs = urlencode({k: v for k, v in (query or {}).items() if v not in (None, "")})
        headers = [(b"host", b"lockgate"), (b"accept", b"application/json")]
        if body is not None:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
        scope: MutableMapping[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": PREFIX + path,
            "raw_path": (PREFIX + path).encode(),
            "root_path": PREFIX,
            "query_string": qs.encode(),
            "headers": headers,
            "client": ("127.0.0.1", 0),
            "server": ("lockgate", 0),
            SCOPE_ADMIN: caller,
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        status = 500
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app()(scope, receive, send)
        raw = b"".join(chunks)
        data = orjson.loads(raw) if raw else None
        if status >= 400:
            raise AdminApiError(status, _message(data, status))
        return data


def _message(data: Any, status: int) -> str:
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        detail = data.get("detail")
        if isinstance(detail, list) and detail:
            first = detail[0]
            if isinstance(first, dict):
                where = ".".join(str(p) for p in first.get("loc", ())[1:])
                return f"{where}: {first.get('msg', 'invalid')}" if where else str(first)
    return f"the admin API answered {status}"
