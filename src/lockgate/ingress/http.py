"""Raw ASGI plumbing for the data plane: bounded body reads and response writers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lockgate.errors import InvalidRequest, PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = (b"content-type", b"application/json")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, or 413 as soon as it is known to exceed ``limit``."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise InvalidRequest("Content-Length is not a number") from None
            if declared > limit:
                raise PayloadTooLarge(
                    f"request body of {declared} bytes exceeds the limit of {limit} bytes"
                    " (server.max_body_bytes)"
                )
            break
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise PayloadTooLarge(
                f"request body exceeds the limit of {limit} bytes (server.max_body_bytes)"
            )
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"request body exceeds the limit of {limit} bytes (server.max_body_bytes)"
            )
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    content_type: tuple[bytes, bytes] = JSON,
) -> None:
    out = [content_type, (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class Responder:
    """Wraps ``send`` to know whether the response has started and whether it is complete.

    A disconnect watcher must not mistake the end of a normal response (after which the server
    reports ``http.disconnect``) for a client that went away; an error after the start must not
    start a second response.
    """

    __slots__ = ("done", "send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False
        self.done = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            if not message.get("more_body", False):
                self.done = True
        else:
            self.started = True
        await self.send(message)


async def watch_disconnect(receive: Receive, task: asyncio.Task[Any], responder: Responder) -> bool:
    """Cancel ``task`` if the client disconnects before the response is complete."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if responder.done:
                return False
            task.cancel()
            return True
