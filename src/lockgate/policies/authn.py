"""Authentication on the data plane: API keys, JWTs and client certificates.

The credential comes from ``Authorization: Bearer <key or JWT>`` or ``x-api-key: <key>``; a
bearer credential shaped like a JWT goes to the JWT issuers of ``auth.jwt`` (when configured),
anything else is an API key, hashed and looked up in the in-memory index (no I/O; an unknown
key never reaches the database). Without such a header, a verified client certificate
(``auth.mtls``) is the credential. Oversized credentials are refused before any work.

Once the principal is known its tenant's and app's IP lists are applied (403). The client's
credential is never forwarded upstream: provider adapters build their own headers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from lockgate.errors import AuthenticationFailed
from lockgate.identity.iprules import Address, parse_ip
from lockgate.identity.principal import Principal
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase

from .jwt import JwtAuthenticator, looks_like_jwt
from .mtls import MtlsAuthenticator
from .rules import refuse

MAX_CREDENTIAL = 8192  # bytes; a JWT with many claims fits, a header bomb does not


class KeyLookup(Protocol):
    version: int

    def lookup(self, secret: str) -> Principal | None: ...
    def lookup_app(self, tenant: str, app: str) -> Principal | None: ...


def credential(ctx: RequestContext) -> str | None:
    auth = ctx.header(b"authorization")
    if auth is not None:
        _size(auth)
        scheme, _, token = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    key = ctx.header(b"x-api-key")
    if key:
        _size(key)
        return key.decode("latin-1").strip() or None
    return None


def _size(value: bytes) -> None:
    if len(value) > MAX_CREDENTIAL:
        raise AuthenticationFailed(
            f"authentication: the credential is longer than {MAX_CREDENTIAL} bytes",
            code="invalid_credential",
        )


class Authn:
    name: ClassVar[str] = "authn"
    phase: ClassVar[Phase] = Phase.AUTHN

    def __init__(
        self,
        index: Callable[[], KeyLookup],
        *,
        jwt: JwtAuthenticator | None = None,
        mtls: MtlsAuthenticator | None = None,
        addresses: Callable[[str], Address | None] = parse_ip,
    ) -> None:
        self._index = index
        self._addresses = addresses
        self._jwt = jwt
        self._mtls = mtls

    async def on_request(self, ctx: RequestContext) -> None:
        secret = credential(ctx)
        if secret is not None and (self._jwt is None or not looks_like_jwt(secret)):
            principal = self._index().lookup(secret)  # the hot path: an API key, no await
            if principal is None:
                raise AuthenticationFailed(
                    "authentication: the API key is unknown, revoked or expired"
                )
        else:
            principal = await self._token_or_certificate(ctx, secret)
        ctx.principal = principal
        if principal.ip_rules:
            address = self._addresses(ctx.client_ip)
            for rule in principal.ip_rules:
                reason = rule.refusal(address)
                if reason is not None:
                    raise refuse(reason)

    async def _token_or_certificate(self, ctx: RequestContext, secret: str | None) -> Principal:
        index = self._index()
        if secret is not None:
            assert self._jwt is not None
            return await self._jwt.authenticate(secret, index.lookup_app, index.version)
        if self._mtls is not None:
            found = self._mtls.authenticate(ctx, index.lookup_app)
            if found is not None:
                return found
        raise AuthenticationFailed(
            "authentication: no credential; send 'Authorization: Bearer <key>' or "
            "'x-api-key: <key>'" + (" or a client certificate" if self._mtls else ""),
            code="missing_api_key",
        )

    async def aclose(self) -> None:
        if self._jwt is not None:
            await self._jwt.aclose()


# The name the first version of this module used.
ApiKeyAuthn = Authn
