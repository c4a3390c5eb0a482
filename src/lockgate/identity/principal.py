"""Who is calling: the values the hot path reads after authentication."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lockgate.store.records import AdminRole

from .iprules import IpRule

AuthMethod = Literal["key", "jwt", "mtls"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated data-plane caller, resolved once per identity reload.

    The chain is tenant -> app -> key, or tenant -> app -> user for a JWT or a client
    certificate (``key_id`` None, ``user`` from the token or the certificate). ``plan`` is the
    effective plan (the app's, else the tenant's); ``attributes`` are the tenant's overlaid by
    the app's (read-only and hashable, so conditions can memoise on them); ``roles`` are the
    app's plus, for a JWT, the token's. ``tz`` is the tenant's time zone (attribute ``tz``),
    for conditions on the local hour; ``ip_rules`` are the tenant's and the app's address
    lists. Limits key their counters on ``key_id``, ``app_id``, ``tenant_name`` and ``user``.
    """

    key_id: str | None
    key_prefix: str | None
    app_id: str
    app_name: str
    tenant_name: str
    plan: str | None
    roles: tuple[str, ...]
    attributes: Mapping[str, Any]
    residency: tuple[str, ...]
    user: str | None = None
    expires_at: float | None = None  # epoch seconds
    plan_owner: str = "tenant"  # where the effective plan is set: "app" or "tenant"
    auth: AuthMethod = "key"
    tz: str = "UTC"
    ip_rules: tuple[IpRule, ...] = ()


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """An admin-API caller; ``tenant`` None means every tenant (platform-admin, global auditor)."""

    key_id: str
    role: AdminRole
    tenant: str | None


# The web console calls the admin API in-process on behalf of a signed-in admin key: it puts
# the key's principal in the ASGI scope under this name. A scope built from an HTTP request
# never carries it (the server builds scopes), so it cannot be sent from outside.
SCOPE_ADMIN = "lockgate.admin_principal"


def scope_admin(scope: Mapping[str, Any]) -> AdminPrincipal | None:
    """The principal an in-process caller put in ``scope``, if any."""
    found = scope.get(SCOPE_ADMIN)
    return found if isinstance(found, AdminPrincipal) else None
