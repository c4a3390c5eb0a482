"""``GET /admin/v1/limits``: current use against every limit that applies, and when it resets.

Address the subject by ``tenant`` (name), ``app`` (id) or ``key`` (id); the most specific one
decides the plan (an app's plan overrides its tenant's) and the per-app and per-key counters
shown. Tenant-scoped admin keys see their own tenant only (404 otherwise). The answer also
lists each model's concurrency queue (``max_in_flight``): in flight and waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter

from lockgate.errors import InvalidRequest, NotFound
from lockgate.limits.report import ReportSubject

from . import access
from .context import Caller, Ctx
from .openapi import errors

LimitsReport = Callable[[ReportSubject], Awaitable[dict[str, Any]]]


def add_limit_routes(router: APIRouter, report: LimitsReport) -> None:
    @router.get("/limits", responses=errors(400, 401, 404))
    async def current_limits(
        ctx: Ctx,
        caller: Caller,
        tenant: str | None = None,
        app: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        if tenant is None and app is None and key is None:
            raise InvalidRequest(
                "name a subject: ?tenant=<name>, ?app=<app id> or ?key=<key id>", param="tenant"
            )
        app_id = app
        if key is not None:
            k = await ctx.call(ctx.store.get_key, key)
            owner = (await ctx.call(ctx.store.get_app, k.app_id)).created_by
            if not access.owns_app(caller, k.tenant, owner):
                raise NotFound(f"key {key!r} not found")
            app_id = k.app_id
        if app_id is not None:
            a = await ctx.call(ctx.store.get_app, app_id)
            if not access.owns_app(caller, a.tenant, a.created_by):
                raise NotFound(f"app {app_id!r} not found")
            t = await ctx.call(ctx.store.get_tenant, a.tenant)
            subject = ReportSubject(
                tenant=t.name,
                plan=a.plan if a.plan is not None else t.plan,
                plan_owner="app" if a.plan is not None else "tenant",
                roles=a.roles,
                app_id=a.id,
                app_name=a.name,
                key_id=key,
            )
        else:
            assert tenant is not None
            access.require_visible(caller, tenant, f"tenant {tenant!r} not found")
            t = await ctx.call(ctx.store.get_tenant, tenant)
            subject = ReportSubject(tenant=t.name, plan=t.plan, plan_owner="tenant", roles=())
        return await report(subject)
