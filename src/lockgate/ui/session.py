"""Signed session cookies and CSRF tokens for the web console and portal.

A session is a cookie ``<payload>.<signature>``: the payload names the admin key that signed in
(its id, never its secret), the expiry and a random nonce; the signature is an HMAC-SHA256
under a key derived from the store's server secret (``auth.api_keys.hash_secret``, else
``LOCKGATE_KEY_SECRET``, else the secret kept beside the store), so every worker and replica
of one gateway accepts the same cookie and nothing is kept in process memory. A session ends
at "Sign out" (the browser drops the cookie and ``signouts`` records its nonce until it would
have expired), when it expires, or when its admin key is revoked (the key index no longer
names it).

The CSRF token of a session is an HMAC of its cookie: a page embeds it in every form and a
POST without it (or with another session's) is refused. Before signing in, the sign-in form
is protected the same way by a random pre-session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import orjson

SESSION_COOKIE = "lockgate_session"
PRESESSION_COOKIE = "lockgate_signin"
DEFAULT_TTL = 8 * 3600.0  # a working day
_DERIVE = "lockgate web console session v1"


@dataclass(frozen=True, slots=True)
class Session:
    key_id: str
    expires: int
    cookie: str  # the cookie value, which the CSRF token is bound to
    nonce: str = ""  # names the session when it is signed out


class Signer:
    """Signs and checks cookies; ``key`` comes from the server secret (see module doc)."""

    __slots__ = ("_key", "ttl")

    def __init__(self, key: bytes, ttl: float = DEFAULT_TTL) -> None:
        if len(key) < 16:
            raise ValueError("the session signing key must be at least 16 bytes")
        self._key = key
        self.ttl = ttl

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\n{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, key_id: str, now: float) -> Session:
        expires = int(now + self.ttl)
        nonce = secrets.token_urlsafe(12)
        payload = {"k": key_id, "e": expires, "n": nonce}
        body = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
        cookie = f"{body}.{self._mac('session', body)}"
        return Session(key_id, expires, cookie, nonce)

    def read(self, cookie: str | None, now: float) -> Session | None:
        """The session this cookie carries, or None when it is forged, garbled or expired."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 1024:
            return None
        body, sig = cookie.split(".")
        if not hmac.compare_digest(sig, self._mac("session", body)):
            return None
        try:
            payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            key_id, expires, nonce = payload["k"], payload["e"], payload["n"]
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(key_id, str) or not isinstance(expires, int) or expires <= now:
            return None
        return Session(key_id, expires, cookie, str(nonce))

    def csrf(self, cookie: str) -> str:
        """The CSRF token of a session (or of a pre-session cookie)."""
        return self._mac("csrf", cookie)

    def check_csrf(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        return hmac.compare_digest(token, self.csrf(cookie))


def new_presession() -> str:
    return secrets.token_urlsafe(24)


def derive_key(server_hash: str) -> bytes:
    """The signing key from the store's keyed hash of a fixed label (see module doc)."""
    return hashlib.sha256(f"{_DERIVE}\n{server_hash}".encode()).digest()


def cookie_header(
    name: str, value: str, *, max_age: int, secure: bool, path: str = "/"
) -> tuple[bytes, bytes]:
    """A ``Set-Cookie`` header: HttpOnly, SameSite=Strict, Secure under TLS."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return b"set-cookie", "; ".join(parts).encode()
