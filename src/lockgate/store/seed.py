"""Seeding tenants and apps from the config's ``tenants:`` section.

The config is a seed, not the source of truth: an object is created only the first time it
appears, and a ``meta`` marker remembers that it was seeded, so neither later edits nor a
deletion made at runtime are undone on the next start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .errors import ConflictError

if TYPE_CHECKING:
    from lockgate.config.models import TenantSeed

    from .repo import Store


def seed_tenants(store: Store, tenants: Mapping[str, TenantSeed]) -> list[str]:
    """Returns what was created, as ``"tenant"`` or ``"tenant/app"``."""
    created: list[str] = []
    for name, seed in tenants.items():
        marker = f"seed:tenant:{name}"
        if store.get_meta(marker) is None:
            try:
                store.create_tenant(
                    name,
                    plan=seed.plan,
                    residency=seed.residency,
                    attributes=seed.attributes,
                    allow_ips=seed.allow_ips,
                    deny_ips=seed.deny_ips,
                )
                created.append(name)
            except ConflictError:
                pass  # created at runtime before the seed named it: leave it as it is
            store.set_meta(marker, "1")
        for app_name, app in seed.apps.items():
            app_marker = f"seed:app:{name}/{app_name}"
            if store.get_meta(app_marker) is not None:
                continue
            existing = {a.name for a in store.list_apps(name)} if _exists(store, name) else None
            if existing is None:
                continue  # the tenant was deleted at runtime: its apps stay deleted too
            if app_name not in existing:
                store.create_app(
                    name,
                    app_name,
                    plan=app.plan,
                    roles=app.roles,
                    attributes=app.attributes,
                    allow_ips=app.allow_ips,
                    deny_ips=app.deny_ips,
                )
                created.append(f"{name}/{app_name}")
            store.set_meta(app_marker, "1")
    return created


def _exists(store: Store, tenant: str) -> bool:
    return any(t.name == tenant for t in store.list_tenants())
