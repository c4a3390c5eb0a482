"""First-start conveniences of the embedded default: a usable API key and an admin key.

The first start creates tenant ``default``, app ``default`` and one API key, prints the key and
keeps it in ``<state_dir>/api-key`` (mode 0600) so later starts print the same key instead of
minting another. If that key was revoked or deleted, no new one is minted silently: the start-up
banner says so. Without ``LOCKGATE_ADMIN_KEY``, a platform-admin key is generated once and kept
in ``<state_dir>/admin-key``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from lockgate.store.errors import NotFoundError
from lockgate.store.repo import Store

META_KEY_ID = "bootstrap_key_id"
DEFAULT_TENANT = "default"
DEFAULT_APP = "default"


@dataclass(frozen=True, slots=True)
class FirstKey:
    secret: str | None  # None when the stored secret is gone or the key no longer works
    prefix: str | None
    note: str


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def ensure_first_key(store: Store, state_dir: Path) -> FirstKey:
    secret_file = state_dir / "api-key"
    key_id = store.get_meta(META_KEY_ID)
    if key_id is not None:
        try:
            key = store.get_key(key_id)
        except NotFoundError:
            return FirstKey(
                None, None, "the first API key was deleted; create one with 'lockgate keys create'"
            )
        if key.revoked_at is not None:
            return FirstKey(
                None,
                key.prefix,
                "the first API key was revoked; create one with 'lockgate keys create'",
            )
        if secret_file.exists():
            return FirstKey(
                secret_file.read_text().strip(), key.prefix, "kept from the first start"
            )
        return FirstKey(None, key.prefix, f"{secret_file} is gone; the key still works")
    tenants = {t.name for t in store.list_tenants()}
    if DEFAULT_TENANT not in tenants:
        store.create_tenant(DEFAULT_TENANT)
    apps = {a.name: a for a in store.list_apps(DEFAULT_TENANT)}
    app = apps.get(DEFAULT_APP) or store.create_app(DEFAULT_TENANT, DEFAULT_APP)
    created = store.create_key(app.id, name="first key")
    _write_private(secret_file, created.secret)
    store.set_meta(META_KEY_ID, created.key.id)
    return FirstKey(created.secret, created.key.prefix, "created now")


def ensure_admin_key(state_dir: Path) -> str:
    path = state_dir / "admin-key"
    if path.exists():
        return path.read_text().strip()
    key = "lga-" + secrets.token_urlsafe(32)
    _write_private(path, key)
    return key
