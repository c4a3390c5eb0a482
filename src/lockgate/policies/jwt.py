"""JWT bearer tokens from the issuers of ``auth.jwt`` (SPEC section 2).

A token is accepted when its issuer (``iss``) is configured, its algorithm is one the issuer
allows (asymmetric only: ``alg: none`` and HMAC algorithms are refused before any key is
touched), its signature verifies with a key of the issuer's JWKS, its audience (``aud``) names
the configured one, and the clock (with ``clock_skew`` of leeway) is between ``nbf`` and
``exp``; ``exp`` is required. Its claims name the tenant, the app (by its name in that
tenant), the user and roles; a tenant or app that does not exist is refused like a bad
signature: 401.

A verified token is remembered until it expires (bounded; forgotten when the issuer's keys or
the identities change), so a client reusing its token pays a dict lookup, not a signature
check, per request.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from joserfc import jwt
from joserfc._rfc8037.jws_eddsa import EdDSAAlgorithm
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from lockgate.config.models import JwtIssuer
from lockgate.errors import AuthenticationFailed
from lockgate.identity.jwks import Fetch, KeySource, fetch_url
from lockgate.identity.principal import Principal

CACHE_SIZE = 10_000


class _EdDSA(EdDSAAlgorithm):
    # RFC 9864 deprecates the name "EdDSA" for "Ed25519"; SPEC and today's identity providers
    # use EdDSA, so it is accepted without the library's warning.
    security_warning = ""  # falsy: no warning


class _Registry(JWSRegistry):
    algorithms = {**JWSRegistry.algorithms, "EdDSA": _EdDSA()}


def reject(reason: str) -> AuthenticationFailed:
    return AuthenticationFailed(f"authentication: the JWT {reason}", code="invalid_token")


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and credential.startswith("eyJ")


def _segment(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise reject("is malformed") from None
    if not isinstance(value, dict):
        raise reject("is malformed")
    return value


@dataclass(frozen=True, slots=True)
class Issuer:
    config: JwtIssuer
    keys: KeySource
    audiences: frozenset[str]
    algorithms: tuple[str, ...]
    registry: JWSRegistry  # allows exactly ``algorithms``


@dataclass(frozen=True, slots=True)
class Verified:
    """A token that verified, valid while the identities and the issuer's keys are the same."""

    principal: Principal
    exp: float
    identity_version: int
    issuer: Issuer
    generation: int


class JwtAuthenticator:
    def __init__(
        self,
        issuers: list[JwtIssuer],
        *,
        clock: Callable[[], float] = time.time,
        fetch: Fetch = fetch_url,
    ) -> None:
        self._issuers = {
            cfg.issuer: Issuer(
                cfg,
                KeySource(inline=cfg.jwks, url=cfg.jwks_url, fetch=fetch),
                frozenset([cfg.audience] if isinstance(cfg.audience, str) else cfg.audience),
                tuple(cfg.algorithms),
                _Registry(algorithms=list(cfg.algorithms)),
            )
            for cfg in issuers
        }
        self._clock = clock
        self._verified: dict[str, Verified] = {}

    async def authenticate(
        self,
        token: str,
        lookup_app: Callable[[str, str], Principal | None],
        identity_version: int,
    ) -> Principal:
        cached = self._verified.get(token)
        now = self._clock()
        if cached is not None:
            issuer = cached.issuer
            if (
                cached.identity_version == identity_version
                and cached.generation == issuer.keys.generation
                and now < cached.exp + issuer.config.clock_skew
            ):
                return cached.principal
        header_text, payload_text, _ = token.split(".")
        header, payload = _segment(header_text), _segment(payload_text)
        found = self._issuers.get(str(payload.get("iss")))
        if found is None:
            raise reject("is from an issuer this gateway does not accept (iss)")
        issuer = found
        alg = header.get("alg")
        if alg not in issuer.algorithms:
            raise reject(f"uses algorithm {alg!r}; accepted: {', '.join(issuer.algorithms)}")
        kid = header.get("kid")
        keys = await issuer.keys.key_set(kid if isinstance(kid, str) else None)
        if keys is None:
            raise reject("cannot be checked: the issuer's keys are unavailable")
        try:
            claims = jwt.decode(token, keys, algorithms=issuer.algorithms, registry=issuer.registry)
        except JoseError as exc:
            raise reject(_why(exc)) from None
        exp = check_claims(claims.claims, issuer, now)
        principal = map_claims(claims.claims, issuer.config, lookup_app, exp)
        if len(self._verified) >= CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = Verified(
            principal, exp, identity_version, issuer, issuer.keys.generation
        )
        return principal

    async def aclose(self) -> None:
        for issuer in self._issuers.values():
            await issuer.keys.aclose()


def _why(exc: JoseError) -> str:
    name = type(exc).__name__
    if name == "InvalidKeyIdError":
        return "names a key id (kid) the issuer does not publish"
    if name == "BadSignatureError":
        return "signature does not verify"
    return f"is invalid ({exc.error})"


def check_claims(claims: dict[str, Any], issuer: Issuer, now: float) -> float:
    skew = issuer.config.clock_skew
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise reject("has no expiry (exp)")
    if now >= exp + skew:
        raise reject("has expired (exp)")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int | float) or now + skew < nbf):
        raise reject("is not valid yet (nbf)")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, int | float) or now + skew < iat):
        raise reject("was issued in the future (iat)")
    aud = claims.get("aud")
    given = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in issuer.audiences for a in given):
        raise reject("is not meant for this gateway (aud)")
    return float(exp)


def map_claims(
    claims: dict[str, Any],
    config: JwtIssuer,
    lookup_app: Callable[[str, str], Principal | None],
    exp: float,
) -> Principal:
    names = config.claims
    tenant, app = claims.get(names.tenant), claims.get(names.app)
    if not isinstance(tenant, str) or not isinstance(app, str):
        raise reject(f"does not name a tenant ({names.tenant}) and an app ({names.app})")
    base = lookup_app(tenant, app)
    if base is None:
        raise reject("names a tenant or app that does not exist")
    user = claims.get(names.user)
    raw = claims.get(names.roles)
    roles = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
    extra = tuple(r for r in roles if isinstance(r, str) and r not in base.roles)
    return replace(
        base,
        user=user if isinstance(user, str) else None,
        roles=base.roles + extra,
        auth="jwt",
        expires_at=exp,
    )
