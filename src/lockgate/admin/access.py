"""Who may do what in the admin API.

platform-admin: everything. tenant-admin: its tenant's apps and keys. developer: apps and keys
in its tenant. auditor: reads only (optionally one tenant). A tenant-scoped caller gets 404 for
another tenant's objects, the same answer as for objects that do not exist, so it cannot infer
them. Fields that decide policy outcomes (``plan``, ``roles``, ``attributes``) and tenants
themselves are platform-admin's to set, so no tenant-scoped key can raise its own limits.
"""

from __future__ import annotations

from lockgate.errors import NotFound, PermissionDenied
from lockgate.identity.principal import AdminPrincipal

POLICY_FIELDS = ("plan", "roles", "attributes")


def visible(p: AdminPrincipal, tenant: str) -> bool:
    return p.tenant is None or p.tenant == tenant


def require_visible(p: AdminPrincipal, tenant: str, not_found: str) -> None:
    if not visible(p, tenant):
        raise NotFound(not_found)


def require_write(p: AdminPrincipal) -> None:
    if p.role == "auditor":
        raise PermissionDenied("auditor admin keys are read-only")


def require_platform(p: AdminPrincipal, action: str) -> None:
    if p.role != "platform-admin":
        raise PermissionDenied(f"only a platform-admin key may {action}")


def require_policy_fields(p: AdminPrincipal, given: set[str]) -> None:
    fields = [f for f in POLICY_FIELDS if f in given]
    if fields and p.role != "platform-admin":
        raise PermissionDenied(
            f"only a platform-admin key may set {', '.join(fields)}", param=fields[0]
        )
