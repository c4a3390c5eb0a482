"""API-key authentication on the data plane.

The key comes from ``Authorization: Bearer <key>`` or ``x-api-key: <key>``; it is hashed and
looked up in the in-memory index (no I/O on the hot path). The client's credential is never
forwarded upstream: provider adapters build their own headers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from lockgate.errors import AuthenticationFailed
from lockgate.identity.principal import Principal
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase


class KeyLookup(Protocol):
    def lookup(self, secret: str) -> Principal | None: ...


def credential(ctx: RequestContext) -> str | None:
    auth = ctx.header(b"authorization")
    if auth is not None:
        scheme, _, token = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    key = ctx.header(b"x-api-key")
    if key:
        return key.decode("latin-1").strip() or None
    return None


class ApiKeyAuthn:
    name: ClassVar[str] = "authn"
    phase: ClassVar[Phase] = Phase.AUTHN

    def __init__(self, index: Callable[[], KeyLookup]) -> None:
        self._index = index

    async def on_request(self, ctx: RequestContext) -> None:
        secret = credential(ctx)
        if secret is None:
            raise AuthenticationFailed(
                "authentication: no API key; send 'Authorization: Bearer <key>' or "
                "'x-api-key: <key>'",
                code="missing_api_key",
            )
        principal = self._index().lookup(secret)
        if principal is None:
            raise AuthenticationFailed("authentication: the API key is unknown, revoked or expired")
        ctx.principal = principal
