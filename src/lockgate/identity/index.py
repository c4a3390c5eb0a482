"""``KeyIndex``: the hot path's in-memory view of every live key, rebuilt on each reload.

A lookup hashes the presented secret (HMAC-SHA256 with the store's server secret) and reads a
dict: no I/O, and an unknown key costs the same as a known one. Keys stored before keyed
hashing are found by their plain SHA-256 hash, looked up only when such rows exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from lockgate.conditions import frozen_map
from lockgate.store.convert import TZ_ATTRIBUTE, is_time_zone
from lockgate.store.keyhash import ADMIN_KEY, API_KEY, SHA256, KeyHasher
from lockgate.store.records import App, IdentitySnapshot, Tenant

from .iprules import IpRule, ip_rule
from .principal import AdminPrincipal, Principal

Clock = Callable[[], float]
BOOTSTRAP_KEY_ID = "bootstrap"
# The secret of an index built without a store (tests, a gateway before its first load).
_EPHEMERAL = KeyHasher(b"lockgate-empty-index-has-no-keys")


class KeyIndex:
    """Immutable once built; a refresh builds a new one and swaps the reference."""

    __slots__ = (
        "_admin_ids",
        "_admins",
        "_apps",
        "_by_hash",
        "_clock",
        "_hasher",
        "_legacy",
        "_legacy_admins",
        "upgrades",
        "version",
    )

    def __init__(
        self,
        by_hash: dict[str, Principal],
        apps: dict[tuple[str, str], Principal],
        admins: dict[str, AdminPrincipal],
        *,
        version: int = 0,
        clock: Clock = time.time,
        hasher: KeyHasher = _EPHEMERAL,
        legacy: dict[str, Principal] | None = None,
        legacy_admins: dict[str, AdminPrincipal] | None = None,
    ) -> None:
        self._by_hash = by_hash
        self._apps = apps
        self._admins = admins
        self._clock = clock
        self._hasher = hasher
        self._legacy = legacy or {}
        self._legacy_admins = legacy_admins or {}
        # Keys found by their old plain SHA-256 hash: (kind, row id) -> keyed hash, for the
        # refresher to store so the old hash leaves the database once the key is used.
        self.upgrades: dict[tuple[str, str], str] = {}
        self._admin_ids = {
            p.key_id: p for p in (*self._admins.values(), *self._legacy_admins.values())
        }
        self.version = version

    @classmethod
    def from_snapshot(
        cls,
        snapshot: IdentitySnapshot,
        clock: Clock = time.time,
        *,
        hasher: KeyHasher,
        bootstrap_admin_keys: Iterable[str] = (),
    ) -> KeyIndex:
        tenants = {t.id: t for t in snapshot.tenants}
        apps = {a.id: app_principal(a, tenants[a.tenant_id]) for a in snapshot.apps}
        by_hash: dict[str, Principal] = {}
        legacy: dict[str, Principal] = {}
        for k in snapshot.keys:
            base = apps.get(k.app_id)
            if base is None:
                continue  # the app was deleted between the table reads
            expires = None if k.expires_at is None else k.expires_at.timestamp()
            target = legacy if k.hash_kind == SHA256 else by_hash
            target[k.hash] = replace(base, key_id=k.id, key_prefix=k.prefix, expires_at=expires)
        admins: dict[str, AdminPrincipal] = {}
        legacy_admins: dict[str, AdminPrincipal] = {}
        for a in snapshot.admin_keys:
            target_admins = legacy_admins if a.hash_kind == SHA256 else admins
            target_admins[a.hash] = AdminPrincipal(a.id, a.role, a.tenant)
        for secret in bootstrap_admin_keys:
            if secret:
                boot = AdminPrincipal(BOOTSTRAP_KEY_ID, "platform-admin", None)
                admins[hasher.hash(secret)] = boot
        by_name = {(p.tenant_name, p.app_name): p for p in apps.values()}
        return cls(
            by_hash,
            by_name,
            admins,
            version=snapshot.version,
            clock=clock,
            hasher=hasher,
            legacy=legacy,
            legacy_admins=legacy_admins,
        )

    @classmethod
    def empty(cls, clock: Clock = time.time) -> KeyIndex:
        return cls({}, {}, {}, version=0, clock=clock)

    def lookup(self, secret: str) -> Principal | None:
        """The principal for an API key, or None if unknown, revoked or expired."""
        hashed = self._hasher.hash(secret)
        p = self._by_hash.get(hashed)
        if p is None and self._legacy:
            p = self._legacy.get(KeyHasher.legacy(secret))
            if p is not None and p.key_id is not None:
                self.upgrades[(API_KEY, p.key_id)] = hashed
        if p is None or (p.expires_at is not None and self._clock() >= p.expires_at):
            return None
        return p

    def lookup_app(self, tenant: str, app: str) -> Principal | None:
        """The principal template for an app named by a JWT or a client certificate."""
        return self._apps.get((tenant, app))

    def admin_lookup(self, secret: str) -> AdminPrincipal | None:
        hashed = self._hasher.hash(secret)
        found = self._admins.get(hashed)
        if found is None and self._legacy_admins:
            found = self._legacy_admins.get(KeyHasher.legacy(secret))
            if found is not None:
                self.upgrades[(ADMIN_KEY, found.key_id)] = hashed
        return found

    def admin_by_id(self, key_id: str) -> AdminPrincipal | None:
        """The admin key with this id while it is valid (the web console's sessions name it)."""
        return self._admin_ids.get(key_id)

    def __len__(self) -> int:
        return len(self._by_hash) + len(self._legacy)


def app_principal(app: App, tenant: Tenant) -> Principal:
    attributes = {**tenant.attributes, **app.attributes}
    tz = attributes.get(TZ_ATTRIBUTE)
    rules: list[IpRule] = []
    for owner, allow, deny in (
        (f"tenant '{tenant.name}'", tenant.allow_ips, tenant.deny_ips),
        (f"app '{tenant.name}/{app.name}'", app.allow_ips, app.deny_ips),
    ):
        rule = ip_rule(owner, allow, deny)
        if rule is not None:
            rules.append(rule)
    return Principal(
        key_id=None,
        key_prefix=None,
        app_id=app.id,
        app_name=app.name,
        tenant_name=tenant.name,
        plan=app.plan if app.plan is not None else tenant.plan,
        roles=app.roles,
        attributes=frozen_map(attributes),
        residency=tenant.residency,
        plan_owner="app" if app.plan is not None else "tenant",
        tz=tz if isinstance(tz, str) and is_time_zone(tz) else "UTC",
        ip_rules=tuple(rules),
    )
