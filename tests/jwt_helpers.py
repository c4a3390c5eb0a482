"""Keys, tokens and forgeries for the JWT tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from lockgate.policies.jwt import _Registry

ISSUER = "https://idp.test"
AUDIENCE = "lockgate"
NOW = 1_900_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Keys:
    rsa: RSAKey
    ec: ECKey
    okp: OKPKey

    @classmethod
    def make(cls, suffix: str = "") -> Keys:
        return cls(
            RSAKey.generate_key(2048, parameters={"kid": f"rsa{suffix}"}),
            ECKey.generate_key("P-256", parameters={"kid": f"ec{suffix}"}),
            OKPKey.generate_key("Ed25519", parameters={"kid": f"okp{suffix}"}),
        )

    def public(self) -> dict[str, Any]:
        return KeySet([self.rsa, self.ec, self.okp]).as_dict(private=False)

    def key(self, alg: str) -> Any:
        return {"RS256": self.rsa, "ES256": self.ec, "EdDSA": self.okp, "Ed25519": self.okp}[alg]


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(NOW) + 300,
        "iat": int(NOW) - 10,
        "sub": "alice",
        "org": "acme",
        "client_id": "bot",
        "roles": ["research"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(keys: Keys, alg: str = "RS256", kid: str | None = "default", **over: Any) -> str:
    key = keys.key(alg)
    header: dict[str, Any] = {"alg": alg}
    if kid is not None:
        header["kid"] = key.kid if kid == "default" else kid
    return jwt.encode(
        header, claims(**over), key, algorithms=[alg], registry=_Registry(algorithms=[alg])
    )


def unsigned(**over: Any) -> str:
    """``alg: none``: a token with no signature at all."""
    return f"{b64(orjson.dumps({'alg': 'none'}))}.{b64(orjson.dumps(claims(**over)))}."


def hs256_with_public_key(keys: Keys) -> str:
    """The classic confusion: HMAC-signed with the RSA public key as the secret."""
    header = b64(orjson.dumps({"alg": "HS256", "kid": keys.rsa.kid}))
    payload = b64(orjson.dumps(claims()))
    secret = keys.rsa.as_pem(private=False)
    sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(sig)}"


def forged_payload(good: str, **over: Any) -> str:
    """A valid token whose payload was swapped for another one (signature kept)."""
    header, _, sig = good.split(".")
    return f"{header}.{b64(orjson.dumps(claims(**over)))}.{sig}"
