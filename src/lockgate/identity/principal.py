"""Who is calling: the values the hot path reads after authentication."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockgate.store.records import AdminRole


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated data-plane caller, resolved once per identity reload.

    ``plan`` is the effective plan (the app's, else the tenant's); ``attributes`` are the
    tenant's overlaid by the app's (read-only); ``key_id`` is None for JWT/mTLS callers.
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


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """An admin-API caller; ``tenant`` None means every tenant (platform-admin, global auditor)."""

    key_id: str
    role: AdminRole
    tenant: str | None
