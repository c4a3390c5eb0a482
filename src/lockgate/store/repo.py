"""``Store``: the identity repository (tenants, apps, API keys, admin keys, meta).

Synchronous SQLAlchemy; callers on an event loop run it via ``asyncio.to_thread``. Every
identity mutation bumps ``identity_version`` in its own transaction, so gateways polling the
counter pick up any change — from the admin API, the CLI or another replica.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import keyhash, tokens
from .convert import (
    app_record,
    check_attributes,
    check_name,
    check_networks,
    check_plan,
    check_strings,
    key_record,
    tenant_record,
    utc,
    utc_or_none,
)
from .engine import create_store_engine, migrate
from .errors import ConflictError, NotFoundError, ValidationError
from .products import ProductRepo, load_products
from .records import (
    ADMIN_ROLES,
    AdminKey,
    AdminKeyEntry,
    AdminRole,
    ApiKey,
    App,
    CreatedAdminKey,
    CreatedKey,
    IdentitySnapshot,
    KeyEntry,
    Tenant,
)
from .schema import AdminKeyRow, ApiKeyRow, AppRow, IdentityVersionRow, MetaRow, TenantRow
from .seed import seed_tenants

if TYPE_CHECKING:
    from lockgate.config.models import TenantSeed


class Unset(enum.Enum):
    UNSET = "unset"


UNSET = Unset.UNSET
_BUMP = (
    update(IdentityVersionRow)
    .where(IdentityVersionRow.id == 1)
    .values(version=IdentityVersionRow.version + 1)
)


class Store:
    def __init__(
        self,
        url: str,
        *,
        now: Callable[[], datetime] | None = None,
        key_secret: str | None = None,
    ) -> None:
        """``key_secret``: the server secret of keyed hashes (``auth.api_keys.hash_secret``);
        None: from the environment or beside the store (see keyhash.py)."""
        self.url = url
        self.engine = create_store_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._now = now or (lambda: datetime.now(UTC))
        self._key_secret = key_secret
        self._hasher: keyhash.KeyHasher | None = None
        self.products = ProductRepo(self)  # API products and subscriptions (products.py)

    def key_hasher(self) -> keyhash.KeyHasher:
        """Resolved once, at first use (after migrations, for the PostgreSQL meta row)."""
        if self._hasher is None:
            self._hasher = keyhash.resolve(self._key_secret, self.url, self._meta_secret)
        return self._hasher

    def _meta_secret(self) -> str:
        return self._meta_once(keyhash.META_SECRET, keyhash.new_secret_text)

    def store_id(self) -> str:
        """A random id of this database, the same for every process that opens it."""
        return self._meta_once("store_id", lambda: tokens.new_id("store"))

    def _meta_once(self, key: str, make: Callable[[], str]) -> str:
        """A meta value created by the first process that asks; later ones read it."""
        found = self.get_meta(key)
        if found is not None:
            return found
        try:
            with self._sessions.begin() as s:
                s.add(MetaRow(key=key, value=make()))
        except IntegrityError:
            pass  # another process stored one first: use theirs
        found = self.get_meta(key)
        assert found is not None
        return found

    # --- lifecycle ---------------------------------------------------------------------------

    def migrate(self) -> None:
        migrate(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _mutation(self, conflict: str = "the name is already taken") -> Iterator[Session]:
        """A write transaction that bumps the identity version; the bump comes first so
        concurrent writers serialise on it (a row lock, or SQLite's write lock)."""
        try:
            with self._sessions.begin() as s:
                s.execute(_BUMP)
                yield s
                s.flush()
        except IntegrityError as exc:
            raise ConflictError(conflict) from exc

    # --- tenants -----------------------------------------------------------------------------

    def create_tenant(
        self,
        name: str,
        *,
        plan: str | None = None,
        residency: Iterable[str] = (),
        attributes: Mapping[str, Any] | None = None,
        allow_ips: Iterable[str] = (),
        deny_ips: Iterable[str] = (),
    ) -> Tenant:
        now = self._now()
        row = TenantRow(
            id=tokens.new_id("tnt"),
            name=check_name(name),
            plan=check_plan(plan),
            residency=check_strings(residency, "residency"),
            attributes=check_attributes(attributes or {}),
            allow_ips=check_networks(allow_ips, "allow_ips"),
            deny_ips=check_networks(deny_ips, "deny_ips"),
            created_at=now,
            updated_at=now,
        )
        with self._mutation(f"tenant {name!r} already exists") as s:
            if s.scalar(select(TenantRow.id).where(TenantRow.name == name)) is not None:
                raise ConflictError(f"tenant {name!r} already exists", field="name")
            s.add(row)
        return tenant_record(row)

    def list_tenants(self) -> list[Tenant]:
        with self._sessions() as s:
            return [tenant_record(r) for r in s.scalars(select(TenantRow).order_by(TenantRow.name))]

    def get_tenant(self, name: str) -> Tenant:
        with self._sessions() as s:
            return tenant_record(_tenant_row(s, name))

    def update_tenant(
        self,
        name: str,
        *,
        plan: str | Unset | None = UNSET,
        residency: Iterable[str] | Unset = UNSET,
        attributes: Mapping[str, Any] | Unset = UNSET,
        allow_ips: Iterable[str] | Unset = UNSET,
        deny_ips: Iterable[str] | Unset = UNSET,
    ) -> Tenant:
        with self._mutation() as s:
            row = _tenant_row(s, name)
            if not isinstance(plan, Unset):
                row.plan = check_plan(plan)
            if not isinstance(residency, Unset):
                row.residency = check_strings(residency, "residency")
            if not isinstance(attributes, Unset):
                row.attributes = check_attributes(attributes)
            if not isinstance(allow_ips, Unset):
                row.allow_ips = check_networks(allow_ips, "allow_ips")
            if not isinstance(deny_ips, Unset):
                row.deny_ips = check_networks(deny_ips, "deny_ips")
            row.updated_at = self._now()
        return tenant_record(row)

    def delete_tenant(self, name: str, *, cascade: bool = False) -> None:
        """Delete a tenant; with ``cascade`` also its apps and their keys (ON DELETE CASCADE),
        without it a tenant that still has apps is a conflict. Its scoped admin keys go too."""
        with self._mutation() as s:
            row = _tenant_row(s, name)
            if not cascade:
                apps = s.scalar(select(func.count()).where(AppRow.tenant_id == row.id)) or 0
                if apps:
                    raise ConflictError(
                        f"tenant {name!r} still has {apps} app(s); delete them first or "
                        "ask for cascade=true",
                        field="cascade",
                    )
            s.delete(row)

    # --- apps --------------------------------------------------------------------------------

    def create_app(
        self,
        tenant: str,
        name: str,
        *,
        plan: str | None = None,
        roles: Iterable[str] = (),
        attributes: Mapping[str, Any] | None = None,
        allow_ips: Iterable[str] = (),
        deny_ips: Iterable[str] = (),
        created_by: str | None = None,
    ) -> App:
        now = self._now()
        conflict = f"app {name!r} already exists in tenant {tenant!r}"
        with self._mutation(conflict) as s:
            t = _tenant_row(s, tenant)
            row = AppRow(
                id=tokens.new_id("app"),
                tenant_id=t.id,
                name=check_name(name),
                plan=check_plan(plan),
                roles=check_strings(roles, "roles"),
                attributes=check_attributes(attributes or {}),
                allow_ips=check_networks(allow_ips, "allow_ips"),
                deny_ips=check_networks(deny_ips, "deny_ips"),
                created_at=now,
                updated_at=now,
                created_by=created_by,
            )
            taken = select(AppRow.id).where(AppRow.tenant_id == t.id, AppRow.name == name)
            if s.scalar(taken) is not None:
                raise ConflictError(conflict, field="name")
            s.add(row)
        return app_record(row, tenant)

    def list_apps(self, tenant: str) -> list[App]:
        with self._sessions() as s:
            t = _tenant_row(s, tenant)
            rows = s.scalars(select(AppRow).where(AppRow.tenant_id == t.id).order_by(AppRow.name))
            return [app_record(r, t.name) for r in rows]

    def get_app(self, app_id: str) -> App:
        with self._sessions() as s:
            row, tenant = _app_row(s, app_id)
            return app_record(row, tenant)

    def update_app(
        self,
        app_id: str,
        *,
        name: str | Unset = UNSET,
        plan: str | Unset | None = UNSET,
        roles: Iterable[str] | Unset = UNSET,
        attributes: Mapping[str, Any] | Unset = UNSET,
        allow_ips: Iterable[str] | Unset = UNSET,
        deny_ips: Iterable[str] | Unset = UNSET,
    ) -> App:
        with self._mutation("an app with this name already exists in the tenant") as s:
            row, tenant = _app_row(s, app_id)
            if not isinstance(name, Unset):
                row.name = check_name(name)
            if not isinstance(plan, Unset):
                row.plan = check_plan(plan)
            if not isinstance(roles, Unset):
                row.roles = check_strings(roles, "roles")
            if not isinstance(attributes, Unset):
                row.attributes = check_attributes(attributes)
            if not isinstance(allow_ips, Unset):
                row.allow_ips = check_networks(allow_ips, "allow_ips")
            if not isinstance(deny_ips, Unset):
                row.deny_ips = check_networks(deny_ips, "deny_ips")
            row.updated_at = self._now()
        return app_record(row, tenant)

    def delete_app(self, app_id: str) -> None:
        with self._mutation() as s:
            s.delete(_app_row(s, app_id)[0])

    # --- API keys ----------------------------------------------------------------------------

    def create_key(
        self, app_id: str, *, name: str | None = None, expires_at: datetime | None = None
    ) -> CreatedKey:
        self.key_hasher()  # outside the write transaction (it may write the secret row)
        with self._mutation() as s:
            _, tenant = _app_row(s, app_id)
            return self._add_key(s, app_id, tenant, name, expires_at, rotated_from=None)

    def list_keys(self, app_id: str) -> list[ApiKey]:
        with self._sessions() as s:
            _, tenant = _app_row(s, app_id)
            q = select(ApiKeyRow).where(ApiKeyRow.app_id == app_id).order_by(ApiKeyRow.created_at)
            return [key_record(r, tenant) for r in s.scalars(q)]

    def get_key(self, key_id: str) -> ApiKey:
        with self._sessions() as s:
            row, tenant = _key_row(s, key_id)
            return key_record(row, tenant)

    def rotate_key(
        self, key_id: str, grace_seconds: float = 3600, *, expires_at: datetime | None = None
    ) -> CreatedKey:
        """Issue a successor key; the old one keeps working for ``grace_seconds``."""
        if grace_seconds < 0:
            raise ValidationError("grace_seconds must be >= 0", field="grace_seconds")
        self.key_hasher()
        with self._mutation() as s:
            old, tenant = _key_row(s, key_id)
            if old.revoked_at is not None:
                raise ValidationError(f"key {key_id!r} is revoked and cannot be rotated")
            now = self._now()
            end = now + timedelta(seconds=grace_seconds)
            current = utc_or_none(old.expires_at)
            old.expires_at = end if current is None else min(current, end)
            return self._add_key(s, old.app_id, tenant, old.name, expires_at, rotated_from=old.id)

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._mutation() as s:
            row, tenant = _key_row(s, key_id)
            if row.revoked_at is None:
                row.revoked_at = self._now()
        return key_record(row, tenant)

    def _add_key(
        self,
        s: Session,
        app_id: str,
        tenant: str,
        name: str | None,
        expires_at: datetime | None,
        rotated_from: str | None,
    ) -> CreatedKey:
        if name is not None and (not isinstance(name, str) or len(name) > 128):
            raise ValidationError("name must be at most 128 characters", field="name")
        now = self._now()
        if expires_at is not None and utc(expires_at) <= now:
            raise ValidationError("expires_at must be in the future", field="expires_at")
        secret = tokens.new_secret()
        row = ApiKeyRow(
            id=tokens.new_id("key"),
            app_id=app_id,
            name=name,
            prefix=tokens.display_prefix(secret),
            hash=self.key_hasher().hash(secret),
            hash_kind=keyhash.HMAC,
            created_at=now,
            expires_at=utc_or_none(expires_at),
            revoked_at=None,
            rotated_from=rotated_from,
        )
        s.add(row)
        return CreatedKey(key=key_record(row, tenant), secret=secret)

    # --- admin keys --------------------------------------------------------------------------

    def create_admin_key(self, role: str, tenant: str | None = None) -> CreatedAdminKey:
        checked = _check_admin_role(role, tenant)
        secret = tokens.new_secret(tokens.ADMIN_KEY_PREFIX)
        self.key_hasher()  # outside the write transaction (it may write the secret row)
        with self._mutation() as s:
            tenant_id = None if tenant is None else _tenant_row(s, tenant, "tenant").id
            row = AdminKeyRow(
                id=tokens.new_id("adm"),
                role=checked,
                tenant_id=tenant_id,
                prefix=tokens.display_prefix(secret),
                hash=self.key_hasher().hash(secret),
                hash_kind=keyhash.HMAC,
                created_at=self._now(),
                revoked_at=None,
            )
            s.add(row)
        return CreatedAdminKey(key=_admin_record(row, tenant), secret=secret)

    def get_admin_key_by_hash(self, key_hash: str) -> AdminKey | None:
        with self._sessions() as s:
            q = (
                select(AdminKeyRow, TenantRow.name)
                .outerjoin(TenantRow, AdminKeyRow.tenant_id == TenantRow.id)
                .where(AdminKeyRow.hash == key_hash, AdminKeyRow.revoked_at.is_(None))
            )
            found = s.execute(q).first()
            return None if found is None else _admin_record(found[0], found[1])

    def revoke_admin_key(self, admin_key_id: str) -> None:
        with self._mutation() as s:
            row = s.get(AdminKeyRow, admin_key_id)
            if row is None:
                raise NotFoundError(f"admin key {admin_key_id!r} not found")
            row.revoked_at = row.revoked_at or self._now()

    def _admin_keys(self, *where: Any) -> list[AdminKey]:
        with self._sessions() as s:
            q = (
                select(AdminKeyRow, TenantRow.name)
                .outerjoin(TenantRow, AdminKeyRow.tenant_id == TenantRow.id)
                .where(*where)
                .order_by(AdminKeyRow.created_at)
            )
            return [_admin_record(row, tenant) for row, tenant in s.execute(q).all()]

    def list_admin_keys(self, tenant: str | None = None) -> list[AdminKey]:
        """Every admin key, or those scoped to ``tenant``; revoked ones included."""
        return self._admin_keys(*(() if tenant is None else (TenantRow.name == tenant,)))

    def get_admin_key(self, admin_key_id: str) -> AdminKey:
        found = self._admin_keys(AdminKeyRow.id == admin_key_id)
        if not found:
            raise NotFoundError(f"admin key {admin_key_id!r} not found")
        return found[0]

    def rehash_keys(self, upgrades: Mapping[tuple[str, str], str]) -> int:
        """Replace the plain SHA-256 hashes of keys that were just used with their keyed hashes
        (``(API_KEY | ADMIN_KEY, id) -> hash``); rows already upgraded are left alone. Bumps
        the identity version when a row changed, so every replica reloads. Rows changed."""
        changed = 0
        with self._sessions.begin() as s:
            for (kind, key_id), hashed in upgrades.items():
                table: type[ApiKeyRow] | type[AdminKeyRow] = (
                    ApiKeyRow if kind == keyhash.API_KEY else AdminKeyRow
                )
                result = s.execute(
                    update(table)
                    .where(table.id == key_id, table.hash_kind == keyhash.SHA256)
                    .values(hash=hashed, hash_kind=keyhash.HMAC)
                )
                changed += cast("CursorResult[Any]", result).rowcount
            if changed:
                s.execute(_BUMP)
        return changed

    # --- identity snapshot, meta -------------------------------------------------------------

    def identity_version(self) -> int:
        with self._sessions() as s:
            return int(s.scalar(select(IdentityVersionRow.version)) or 0)

    def load_identity(self) -> IdentitySnapshot:
        """Everything live, one query per table. The version is read first, in the same
        transaction, so a change racing the load only makes the snapshot newer than claimed,
        and the next poll loads again."""
        now = self._now()
        with self._sessions() as s, s.begin():
            version = int(s.scalar(select(IdentityVersionRow.version)) or 0)
            tenants = [tenant_record(r) for r in s.scalars(select(TenantRow))]
            names = {t.id: t.name for t in tenants}
            apps = [app_record(r, names[r.tenant_id]) for r in s.scalars(select(AppRow))]
            live = ApiKeyRow.revoked_at.is_(None) & or_(
                ApiKeyRow.expires_at.is_(None), ApiKeyRow.expires_at > now
            )
            keys = [
                KeyEntry(r.id, r.app_id, r.prefix, r.hash, utc_or_none(r.expires_at), r.hash_kind)
                for r in s.scalars(select(ApiKeyRow).where(live))
            ]
            admins = [
                AdminKeyEntry(
                    r.id, _role(r.role), names.get(r.tenant_id or ""), r.hash, r.hash_kind
                )
                for r in s.scalars(select(AdminKeyRow).where(AdminKeyRow.revoked_at.is_(None)))
            ]
            products = load_products(s)
        return IdentitySnapshot(
            version, tuple(tenants), tuple(apps), tuple(keys), tuple(admins), products
        )

    def get_meta(self, key: str) -> str | None:
        with self._sessions() as s:
            row = s.get(MetaRow, key)
            return None if row is None else row.value

    def set_meta(self, key: str, value: str) -> None:
        with self._sessions.begin() as s:
            row = s.get(MetaRow, key)
            if row is None:
                s.add(MetaRow(key=key, value=value))
            else:
                row.value = value

    def seed_from_config(self, tenants: Mapping[str, TenantSeed]) -> list[str]:
        """Create the config's seed tenants and apps that were never seeded before."""
        return seed_tenants(self, tenants)


# --- helpers ---------------------------------------------------------------------------------


def _tenant_row(s: Session, name: str, field: str | None = None) -> TenantRow:
    row = s.scalar(select(TenantRow).where(TenantRow.name == name))
    if row is None:
        raise NotFoundError(f"tenant {name!r} not found", field=field)
    return row


def _app_row(s: Session, app_id: str) -> tuple[AppRow, str]:
    q = select(AppRow, TenantRow.name).join(TenantRow).where(AppRow.id == app_id)
    found = s.execute(q).first()
    if found is None:
        raise NotFoundError(f"app {app_id!r} not found")
    return found[0], found[1]


def _key_row(s: Session, key_id: str) -> tuple[ApiKeyRow, str]:
    q = (
        select(ApiKeyRow, TenantRow.name)
        .join(AppRow, ApiKeyRow.app_id == AppRow.id)
        .join(TenantRow, AppRow.tenant_id == TenantRow.id)
        .where(ApiKeyRow.id == key_id)
    )
    found = s.execute(q).first()
    if found is None:
        raise NotFoundError(f"key {key_id!r} not found")
    return found[0], found[1]


def _role(value: str) -> AdminRole:
    for role in ADMIN_ROLES:
        if role == value:
            return role
    raise ValidationError(f"role must be one of {', '.join(ADMIN_ROLES)}", field="role")


def _check_admin_role(role: str, tenant: str | None) -> AdminRole:
    checked = _role(role)
    if checked == "platform-admin" and tenant is not None:
        raise ValidationError("a platform-admin key cannot be tenant-scoped", field="tenant")
    if checked in ("tenant-admin", "developer") and tenant is None:
        raise ValidationError(f"a {checked} key needs a tenant", field="tenant")
    return checked


def _admin_record(row: AdminKeyRow, tenant: str | None) -> AdminKey:
    return AdminKey(
        id=row.id,
        role=_role(row.role),
        tenant=tenant,
        prefix=row.prefix,
        created_at=utc(row.created_at),
        revoked_at=utc_or_none(row.revoked_at),
    )
