"""``KeyIndex``: the hot path's in-memory view of every live key, rebuilt on each reload."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from types import MappingProxyType

from lockgate.store.records import App, IdentitySnapshot, Tenant

from .principal import AdminPrincipal, Principal

Clock = Callable[[], float]
BOOTSTRAP_KEY_ID = "bootstrap"


class KeyIndex:
    """Immutable once built; a refresh builds a new one and swaps the reference."""

    __slots__ = ("_admins", "_apps", "_by_hash", "_clock", "version")

    def __init__(
        self,
        by_hash: dict[str, Principal],
        apps: dict[tuple[str, str], Principal],
        admins: dict[str, AdminPrincipal],
        *,
        version: int = 0,
        clock: Clock = time.time,
    ) -> None:
        self._by_hash = by_hash
        self._apps = apps
        self._admins = admins
        self._clock = clock
        self.version = version

    @classmethod
    def from_snapshot(
        cls,
        snapshot: IdentitySnapshot,
        clock: Clock = time.time,
        *,
        bootstrap_admin_keys: Iterable[str] = (),
    ) -> KeyIndex:
        tenants = {t.id: t for t in snapshot.tenants}
        apps = {a.id: _app_principal(a, tenants[a.tenant_id]) for a in snapshot.apps}
        by_hash: dict[str, Principal] = {}
        for k in snapshot.keys:
            base = apps.get(k.app_id)
            if base is None:
                continue  # the app was deleted between the table reads
            expires = None if k.expires_at is None else k.expires_at.timestamp()
            by_hash[k.hash] = replace(base, key_id=k.id, key_prefix=k.prefix, expires_at=expires)
        admins = {a.hash: AdminPrincipal(a.id, a.role, a.tenant) for a in snapshot.admin_keys}
        for secret in bootstrap_admin_keys:
            if secret:
                admins[_sha256(secret)] = AdminPrincipal(BOOTSTRAP_KEY_ID, "platform-admin", None)
        by_name = {(p.tenant_name, p.app_name): p for p in apps.values()}
        return cls(by_hash, by_name, admins, version=snapshot.version, clock=clock)

    @classmethod
    def empty(cls, clock: Clock = time.time) -> KeyIndex:
        return cls({}, {}, {}, version=0, clock=clock)

    def lookup(self, secret: str) -> Principal | None:
        """The principal for an API key, or None if unknown, revoked or expired."""
        p = self._by_hash.get(hashlib.sha256(secret.encode()).hexdigest())
        if p is None or (p.expires_at is not None and self._clock() >= p.expires_at):
            return None
        return p

    def lookup_app(self, tenant: str, app: str) -> Principal | None:
        """The principal template for an app named by a JWT or a client certificate."""
        return self._apps.get((tenant, app))

    def admin_lookup(self, secret: str) -> AdminPrincipal | None:
        return self._admins.get(_sha256(secret))

    def __len__(self) -> int:
        return len(self._by_hash)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _app_principal(app: App, tenant: Tenant) -> Principal:
    return Principal(
        key_id=None,
        key_prefix=None,
        app_id=app.id,
        app_name=app.name,
        tenant_name=tenant.name,
        plan=app.plan if app.plan is not None else tenant.plan,
        roles=app.roles,
        attributes=MappingProxyType({**tenant.attributes, **app.attributes}),
        residency=tenant.residency,
        plan_owner="app" if app.plan is not None else "tenant",
    )
