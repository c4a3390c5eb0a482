"""How secrets are hashed at rest: HMAC-SHA256 with a server secret.

A stolen copy of the database alone then cannot be checked against guessed keys. The server
secret comes from, in order: ``auth.api_keys.hash_secret`` in the config, the environment
variable ``LOCKGATE_KEY_SECRET``, or a secret generated at first start and kept beside the
store: for SQLite a file ``<database>.key-secret`` (mode 0600) next to the database file; for
PostgreSQL, which has no "next to", a row of the store's ``meta`` table, so every replica
finds the same one (set the variable to keep it out of the database).

Rows written before keyed hashing (plain SHA-256, ``hash_kind = 'sha256'``) keep working: the
key index looks them up by their old hash, so nobody is locked out by the upgrade, and the first
use of such a key replaces its stored hash with the keyed one (``Store.rehash_keys``, called by
the identity refresher), so old hashes leave the database as their keys are used.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy.engine import make_url

ENV_SECRET = "LOCKGATE_KEY_SECRET"
HMAC = "hmac"
SHA256 = "sha256"  # rows from before keyed hashing
API_KEY, ADMIN_KEY = "api", "admin"  # which table a key to rehash lives in
META_SECRET = "key_hash_secret"
BLOCK = 64  # SHA-256's block size


class KeyHasher:
    """Hashes secrets for storage and lookup; one per store, built once.

    HMAC-SHA256 (RFC 2104) from precomputed inner and outer hash states: a lookup copies two
    states instead of setting up an HMAC context (~0.8 µs against ~2-5 µs for
    ``hmac.digest`` with OpenSSL 3, measured in bench/auth_bench.py)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the key hash secret must be at least 16 bytes")
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hash(self, secret: str) -> str:
        inner = self._inner.copy()
        inner.update(secret.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    @staticmethod
    def legacy(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()


def sqlite_secret_file(url: str) -> Path | None:
    """The file beside an SQLite database; None for PostgreSQL and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database + ".key-secret")


def read_or_create_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(new_secret_text() + "\n")
    return decode(path.read_text().strip())


def new_secret_text() -> str:
    return secrets.token_urlsafe(32)


def decode(text: str) -> bytes:
    """A configured secret is used as given (its UTF-8 bytes); generated ones are base64."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) == 32 and base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == text:
            return raw
    except ValueError:
        pass
    return text.encode()


def resolve(
    configured: str | None,
    url: str,
    meta: Callable[[], str],
    env: Mapping[str, str] | None = None,
) -> KeyHasher:
    """The hasher for a store; ``meta`` reads (creating once) the secret row of the store."""
    env = os.environ if env is None else env
    if configured:
        return KeyHasher(decode(configured))
    if env.get(ENV_SECRET):
        return KeyHasher(decode(env[ENV_SECRET]))
    path = sqlite_secret_file(url)
    if path is not None:
        return KeyHasher(read_or_create_file(path))
    if make_url(url).get_backend_name() == "sqlite":  # in-memory: lives as long as the store
        return KeyHasher(secrets.token_bytes(32))
    return KeyHasher(decode(meta()))
