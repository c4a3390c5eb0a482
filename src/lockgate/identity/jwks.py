"""JSON Web Key Sets of the JWT issuers: given inline, or fetched from a URL and cached.

A fetched set is refreshed in the background when it is older than ``ttl``, and at once when
a token names a key id the set does not have (a key rotation at the identity provider) — at
most once per ``min_interval``, so tokens with made-up key ids cannot make the gateway hammer
the provider. A failed fetch keeps the last good set. Only public asymmetric keys (RSA, EC,
OKP) are kept: a symmetric key in a set would let anyone holding it mint tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from lockgate.errors import describe

log = logging.getLogger("lockgate.identity")

Fetch = Callable[[str], Awaitable[bytes]]
ASYMMETRIC = frozenset({"RSA", "EC", "OKP"})
MAX_JWKS_BYTES = 1024 * 1024
TTL = 600.0
MIN_INTERVAL = 30.0


def check_key_set(data: dict[str, Any]) -> None:
    """Raise ValueError unless ``data`` is a JWKS of public asymmetric keys (config check)."""
    keys = data.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ValueError("a JWKS needs a non-empty 'keys' list")
    for i, key in enumerate(keys):
        if not isinstance(key, dict) or key.get("kty") not in ASYMMETRIC:
            raise ValueError(f"keys[{i}]: only RSA, EC and OKP public keys are accepted")
        if "d" in key:
            raise ValueError(f"keys[{i}] is a private key; give the public key only")
    public_key_set(data)


def public_key_set(data: dict[str, Any]) -> KeySet:
    """The public asymmetric keys of a JWKS document; ValueError when it does not parse."""
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    usable = [
        {k: v for k, v in key.items() if k != "d"}  # public parts only, whatever was served
        for key in keys
        if isinstance(key, dict) and key.get("kty") in ASYMMETRIC and key.get("use", "sig") == "sig"
    ]
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"a key does not parse: {exc}") from None


FETCH_TIMEOUT = 5.0


async def fetch_url(url: str) -> bytes:
    """GET the JWKS (in a thread: rare, and off the hot path)."""
    timeout = FETCH_TIMEOUT

    def get() -> bytes:
        request = urllib.request.Request(url, headers={"accept": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("the JWKS document is too large")
        return body

    return await asyncio.to_thread(get)


class KeySource:
    """The key set of one issuer; ``generation`` changes whenever the set does."""

    def __init__(
        self,
        *,
        inline: dict[str, Any] | None = None,
        url: str | None = None,
        fetch: Fetch = fetch_url,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = TTL,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.url = url
        self.keys: KeySet | None = public_key_set(inline) if inline is not None else None
        self.generation = 0
        self._kids: frozenset[str] = _kids(self.keys)
        self._fetch = fetch
        self._clock = clock
        self._ttl = ttl
        self._min_interval = min_interval
        self._fetched_at = -float("inf")
        self._tried_at = -float("inf")
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    async def key_set(self, kid: str | None) -> KeySet | None:
        """The keys to verify a token whose header names ``kid``; None while none is known."""
        if self.url is None:
            return self.keys
        now = self._clock()
        if self.keys is None or (kid is not None and kid not in self._kids):
            await self._refresh(now)
        elif now - self._fetched_at > self._ttl and self._background is None:
            self._background = asyncio.get_running_loop().create_task(self._refresh_later())
        return self.keys

    async def _refresh_later(self) -> None:
        try:
            await self._refresh(self._clock())
        finally:
            self._background = None

    async def _refresh(self, now: float) -> None:
        if now - self._tried_at < self._min_interval:
            return  # rate-limited: answer with what we have
        async with self._lock:
            if self._clock() - self._tried_at < self._min_interval:
                return  # another request refreshed while this one waited
            self._tried_at = self._clock()
            assert self.url is not None
            try:
                keys = public_key_set(orjson.loads(await self._fetch(self.url)))
            except Exception as exc:
                log.warning(
                    "JWKS fetch from %s failed; keeping the last good set",
                    self.url,
                    extra=describe(exc),
                )
                return
            self._fetched_at = self._clock()
            if self.keys is None or keys.as_dict() != self.keys.as_dict():
                self.generation += 1  # cached verifications of the old set no longer count
            self.keys, self._kids = keys, _kids(keys)

    async def aclose(self) -> None:
        task, self._background = self._background, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _kids(keys: KeySet | None) -> frozenset[str]:
    if keys is None:
        return frozenset()
    return frozenset(k.kid for k in keys.keys if k.kid is not None)
