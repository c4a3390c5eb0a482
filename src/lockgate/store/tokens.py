"""Identifiers, secrets and their hashes. Only hashes of secrets are ever stored."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "lg-"
ADMIN_KEY_PREFIX = "lga-"
PREFIX_LENGTH = 10  # characters of the secret kept for display, e.g. "lg-AbCdEfG"


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"


def new_secret(prefix: str = KEY_PREFIX) -> str:
    # token_urlsafe(32) encodes 32 random bytes as 43 URL-safe characters.
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:PREFIX_LENGTH]
