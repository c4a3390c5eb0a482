"""The identity store: tenants, apps, API keys and admin keys in SQLite or PostgreSQL."""

from .engine import DEFAULT_URL, normalize_url
from .errors import ConflictError, NotFoundError, StoreError, ValidationError
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
from .repo import UNSET, Store, Unset
from .tokens import hash_secret
from .usage_tables import audit_head, audit_log, usage_hourly, usage_payloads, usage_records

__all__ = [
    "ADMIN_ROLES",
    "DEFAULT_URL",
    "UNSET",
    "AdminKey",
    "AdminKeyEntry",
    "AdminRole",
    "ApiKey",
    "App",
    "ConflictError",
    "CreatedAdminKey",
    "CreatedKey",
    "IdentitySnapshot",
    "KeyEntry",
    "NotFoundError",
    "Store",
    "StoreError",
    "Tenant",
    "Unset",
    "ValidationError",
    "audit_head",
    "audit_log",
    "hash_secret",
    "normalize_url",
    "usage_hourly",
    "usage_payloads",
    "usage_records",
]
