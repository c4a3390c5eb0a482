"""JWT authentication: every failure mode is a 401, valid tokens map to principals."""

from __future__ import annotations

from typing import Any

import pytest

from jwt_helpers import (
    AUDIENCE,
    ISSUER,
    NOW,
    Keys,
    forged_payload,
    hs256_with_public_key,
    token,
    unsigned,
)
from lockgate.conditions import frozen_map
from lockgate.config.models import JwtIssuer
from lockgate.errors import AuthenticationFailed
from lockgate.identity.principal import Principal
from lockgate.policies.jwt import JwtAuthenticator

BOT = Principal(
    key_id=None,
    key_prefix=None,
    app_id="app_1",
    app_name="bot",
    tenant_name="acme",
    plan="free",
    roles=("production",),
    attributes=frozen_map({}),
    residency=(),
)


def lookup(tenant: str, app: str) -> Principal | None:
    return BOT if (tenant, app) == ("acme", "bot") else None


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys.make()


def issuer(keys: Keys, **extra: Any) -> JwtIssuer:
    return JwtIssuer.model_validate(
        {"issuer": ISSUER, "audience": AUDIENCE, "jwks": keys.public(), **extra}
    )


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


async def check(auth: JwtAuthenticator, tok: str, version: int = 1) -> Principal:
    return await auth.authenticate(tok, lookup, version)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_valid_tokens_map_claims_to_a_principal(keys: Keys, alg: str) -> None:
    auth = JwtAuthenticator([issuer(keys)], clock=Clock())
    p = await check(auth, token(keys, alg))
    assert (p.tenant_name, p.app_name, p.user, p.auth) == ("acme", "bot", "alice", "jwt")
    assert p.roles == ("production", "research")  # the app's, then the token's
    assert p.expires_at == NOW + 300 and p.key_id is None


async def rejected(auth: JwtAuthenticator, tok: str) -> str:
    with pytest.raises(AuthenticationFailed) as info:
        await check(auth, tok)
    assert info.value.http_status == 401
    return info.value.message


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k: token(k, exp=int(NOW) - 31), "expired"),
        (lambda k: token(k, nbf=int(NOW) + 31), "not valid yet"),
        (lambda k: token(k, aud="someone-else"), "(aud)"),
        (lambda k: token(k, iss="https://evil.test"), "(iss)"),
        (lambda k: token(k, kid="nope"), "key id"),
        (lambda k: forged_payload(token(k), org="globex"), "signature"),
        (lambda k: unsigned(), "algorithm 'none'"),
        (hs256_with_public_key, "algorithm 'HS256'"),
        (lambda k: token(k, exp=None), "no expiry"),
        (lambda k: token(k, org="globex"), "does not exist"),
        (lambda k: token(k, client_id=None), "does not name"),
        (lambda k: "eyJ.bad.token", "malformed"),
        (lambda k: token(Keys.make("x"), kid="rsa"), "signature"),  # another key, same kid
    ],
)
async def test_every_failure_mode_is_401(keys: Keys, make: Any, reason: str) -> None:
    auth = JwtAuthenticator([issuer(keys)], clock=Clock())
    assert reason in await rejected(auth, make(keys))


async def test_expiry_follows_the_injected_clock_with_skew(keys: Keys) -> None:
    clock = Clock()
    auth = JwtAuthenticator([issuer(keys, clock_skew="5s")], clock=clock)
    tok = token(keys, exp=int(NOW) + 60)
    await check(auth, tok)
    clock.now = NOW + 64  # within the skew: still good (and from the cache)
    await check(auth, tok)
    clock.now = NOW + 65
    assert "expired" in await rejected(auth, tok)  # the cache honours expiry too


async def test_algorithms_are_limited_per_issuer(keys: Keys) -> None:
    auth = JwtAuthenticator([issuer(keys, algorithms=["ES256"])], clock=Clock())
    await check(auth, token(keys, "ES256"))
    assert "algorithm 'RS256'" in await rejected(auth, token(keys, "RS256"))


async def test_a_cached_token_is_checked_again_when_identities_change(keys: Keys) -> None:
    auth = JwtAuthenticator([issuer(keys)], clock=Clock())
    tok = token(keys)
    await check(auth, tok, version=1)
    gone = lambda tenant, app: None  # noqa: E731 - the app was deleted
    with pytest.raises(AuthenticationFailed, match="does not exist"):
        await auth.authenticate(tok, gone, 2)


async def test_roles_may_be_a_space_separated_string(keys: Keys) -> None:
    auth = JwtAuthenticator([issuer(keys)], clock=Clock())
    p = await check(auth, token(keys, roles="a b production"))
    assert p.roles == ("production", "a", "b")


def test_hmac_algorithms_and_private_or_symmetric_keys_are_refused_at_load(keys: Keys) -> None:
    with pytest.raises(ValueError):
        issuer(keys, algorithms=["HS256"])
    with pytest.raises(ValueError, match="only RSA, EC and OKP"):
        JwtIssuer.model_validate(
            {"issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [{"kty": "oct", "k": "x"}]}}
        )
    private = {"keys": [keys.rsa.as_dict(private=True)]}
    with pytest.raises(ValueError, match="private key"):
        JwtIssuer.model_validate({"issuer": ISSUER, "audience": AUDIENCE, "jwks": private})
