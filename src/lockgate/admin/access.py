"""Who may do what in the admin API.

platform-admin: everything. tenant-admin: its tenant's apps, keys and admin keys (it may
give out tenant-admin, developer and auditor keys of its own tenant). developer: the apps it
created (and their keys and subscriptions); another app of its tenant answers 404, like an
app that does not exist. auditor: reads only (optionally one tenant). A tenant-scoped caller
gets 404 for another tenant's objects, the same answer as for objects that do not exist, so it
cannot infer them. Fields that decide policy outcomes (``plan``, ``roles``, ``attributes``) and
tenants themselves are platform-admin's to set, so no tenant-scoped key can raise its own
limits.
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


def owns_app(p: AdminPrincipal, tenant: str, created_by: str | None) -> bool:
    """May ``p`` see this app? A developer key sees only the apps it created."""
    if not visible(p, tenant):
        return False
    return p.role != "developer" or (created_by is not None and created_by == p.key_id)


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


def require_key_manager(p: AdminPrincipal) -> None:
    if p.role not in ("platform-admin", "tenant-admin"):
        raise PermissionDenied("only a platform-admin or tenant-admin key may manage admin keys")


def require_admin_key_grant(p: AdminPrincipal, role: str, tenant: str | None) -> None:
    """A tenant-admin may create keys of its own tenant only, never a platform-wide one."""
    require_key_manager(p)
    if p.role == "platform-admin":
        return
    if tenant is None or role == "platform-admin":
        raise PermissionDenied("a tenant-admin key may create admin keys of its own tenant only")
    require_visible(p, tenant, f"tenant {tenant!r} not found")
