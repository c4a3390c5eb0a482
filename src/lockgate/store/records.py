"""Frozen values the store returns; ORM objects never leave the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .product_records import ProductSnapshot

AdminRole = Literal["platform-admin", "tenant-admin", "developer", "auditor"]
ADMIN_ROLES: tuple[AdminRole, ...] = ("platform-admin", "tenant-admin", "developer", "auditor")


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    plan: str | None
    residency: tuple[str, ...]
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    allow_ips: tuple[str, ...] = ()
    deny_ips: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class App:
    id: str
    tenant: str  # the tenant's name: apps are addressed by id, tenants by name
    tenant_id: str
    name: str
    plan: str | None
    roles: tuple[str, ...]
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    allow_ips: tuple[str, ...] = ()
    deny_ips: tuple[str, ...] = ()
    created_by: str | None = None  # the admin key that created it (None: CLI, seed, config)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: the display prefix, never the hash or the secret."""

    id: str
    app_id: str
    tenant: str
    name: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: str | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str  # returned once, at creation; only its hash is stored


@dataclass(frozen=True, slots=True)
class AdminKey:
    id: str
    role: AdminRole
    tenant: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedAdminKey:
    key: AdminKey
    secret: str


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A live key for the in-memory index, with its hash."""

    id: str
    app_id: str
    prefix: str
    hash: str
    expires_at: datetime | None
    hash_kind: str = "hmac"  # or "sha256" for rows from before keyed hashing


@dataclass(frozen=True, slots=True)
class AdminKeyEntry:
    id: str
    role: AdminRole
    tenant: str | None
    hash: str
    hash_kind: str = "hmac"


@dataclass(frozen=True, slots=True)
class IdentitySnapshot:
    """Everything the gateway needs to authenticate, as of ``version``."""

    version: int
    tenants: tuple[Tenant, ...] = ()
    apps: tuple[App, ...] = ()
    keys: tuple[KeyEntry, ...] = ()
    admin_keys: tuple[AdminKeyEntry, ...] = field(default=())
    products: ProductSnapshot = field(default_factory=ProductSnapshot)  # API products
