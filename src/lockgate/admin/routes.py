"""The admin routes, added to a router built by ``create_admin_app`` (no module-level router).

Order of checks in each route: authenticate, role (constant 403, reveals nothing), then
visibility (404 for other tenants' objects, same as for missing ones), then the store call.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from lockgate.errors import NotFound
from lockgate.store import UNSET, App

from . import access
from .context import Caller, Ctx
from .openapi import READ, WRITE, errors
from .schemas import (
    AdminKeyCreate,
    AdminKeyList,
    AdminKeyOut,
    AppCreate,
    AppList,
    AppOut,
    AppPatch,
    CreatedAdminKeyOut,
    CreatedKeyOut,
    KeyCreate,
    KeyList,
    KeyOut,
    KeyRotate,
    TenantCreate,
    TenantList,
    TenantOut,
    TenantPatch,
)

NO_CONTENT = 204
CREATE = errors(*WRITE, 409)
CHANGE = errors(*WRITE)
DELETE_ERRORS = (401, 403, 404)
DELETE = errors(*DELETE_ERRORS)


def _tenant_missing(name: str) -> str:
    return f"tenant {name!r} not found"


def add_tenant_routes(router: APIRouter) -> None:
    @router.post("/tenants", status_code=201, response_model=TenantOut, responses=CREATE)
    async def create_tenant(body: TenantCreate, ctx: Ctx, caller: Caller) -> TenantOut:
        access.require_platform(caller, "create tenants")
        ctx.check_plan(body.plan)
        t = await ctx.mutate(
            ctx.store.create_tenant,
            body.name,
            plan=body.plan,
            residency=body.residency,
            attributes=body.attributes,
            allow_ips=body.allow_ips,
            deny_ips=body.deny_ips,
        )
        return TenantOut.of(t)

    @router.get("/tenants", response_model=TenantList, responses=errors(401))
    async def list_tenants(ctx: Ctx, caller: Caller) -> TenantList:
        tenants = await ctx.call(ctx.store.list_tenants)
        return TenantList(data=[TenantOut.of(t) for t in tenants if access.visible(caller, t.name)])

    @router.get("/tenants/{tenant}", response_model=TenantOut, responses=errors(*READ))
    async def get_tenant(tenant: str, ctx: Ctx, caller: Caller) -> TenantOut:
        access.require_visible(caller, tenant, _tenant_missing(tenant))
        return TenantOut.of(await ctx.call(ctx.store.get_tenant, tenant))

    @router.patch("/tenants/{tenant}", response_model=TenantOut, responses=CHANGE)
    async def update_tenant(tenant: str, body: TenantPatch, ctx: Ctx, caller: Caller) -> TenantOut:
        access.require_platform(caller, "change tenants")
        given = body.model_fields_set
        ctx.check_plan(body.plan)
        t = await ctx.mutate(
            ctx.store.update_tenant,
            tenant,
            plan=body.plan if "plan" in given else UNSET,
            residency=body.residency if body.residency is not None else UNSET,
            attributes=body.attributes if body.attributes is not None else UNSET,
            allow_ips=body.allow_ips if body.allow_ips is not None else UNSET,
            deny_ips=body.deny_ips if body.deny_ips is not None else UNSET,
        )
        return TenantOut.of(t)

    @router.delete(
        "/tenants/{tenant}", status_code=NO_CONTENT, responses=errors(*DELETE_ERRORS, 409)
    )
    async def delete_tenant(
        tenant: str,
        ctx: Ctx,
        caller: Caller,
        cascade: bool = Query(False, description="Also delete the tenant's apps and keys."),
    ) -> Response:
        access.require_platform(caller, "delete tenants")
        await ctx.mutate(ctx.store.delete_tenant, tenant, cascade=cascade)
        return Response(status_code=NO_CONTENT)


async def visible_app(ctx: Ctx, caller: Caller, app_id: str) -> App:
    """The app, or 404 when it does not exist or is outside the caller's tenant."""
    app = await ctx.call(ctx.store.get_app, app_id)
    if not access.owns_app(caller, app.tenant, app.created_by):
        raise NotFound(f"app {app_id!r} not found")
    return app


def add_app_routes(router: APIRouter) -> None:
    @router.post("/tenants/{tenant}/apps", status_code=201, response_model=AppOut, responses=CREATE)
    async def create_app(tenant: str, body: AppCreate, ctx: Ctx, caller: Caller) -> AppOut:
        access.require_write(caller)
        access.require_visible(caller, tenant, _tenant_missing(tenant))
        access.require_policy_fields(caller, body.model_fields_set)
        ctx.check_plan(body.plan)
        a = await ctx.mutate(
            ctx.store.create_app,
            tenant,
            body.name,
            plan=body.plan,
            roles=body.roles,
            attributes=body.attributes,
            allow_ips=body.allow_ips,
            deny_ips=body.deny_ips,
            created_by=caller.key_id,
        )
        return AppOut.of(a)

    @router.get("/tenants/{tenant}/apps", response_model=AppList, responses=errors(*READ))
    async def list_apps(tenant: str, ctx: Ctx, caller: Caller) -> AppList:
        access.require_visible(caller, tenant, _tenant_missing(tenant))
        apps = await ctx.call(ctx.store.list_apps, tenant)
        shown = [a for a in apps if access.owns_app(caller, a.tenant, a.created_by)]
        return AppList(data=[AppOut.of(a) for a in shown])

    @router.get("/apps/{app_id}", response_model=AppOut, responses=errors(*READ))
    async def get_app(app_id: str, ctx: Ctx, caller: Caller) -> AppOut:
        app = await visible_app(ctx, caller, app_id)
        return AppOut.of(app)

    @router.patch("/apps/{app_id}", response_model=AppOut, responses=errors(*WRITE, 409))
    async def update_app(app_id: str, body: AppPatch, ctx: Ctx, caller: Caller) -> AppOut:
        access.require_write(caller)
        await visible_app(ctx, caller, app_id)
        given = body.model_fields_set
        access.require_policy_fields(caller, given)
        ctx.check_plan(body.plan)
        a = await ctx.mutate(
            ctx.store.update_app,
            app_id,
            name=body.name if body.name is not None else UNSET,
            plan=body.plan if "plan" in given else UNSET,
            roles=body.roles if body.roles is not None else UNSET,
            attributes=body.attributes if body.attributes is not None else UNSET,
            allow_ips=body.allow_ips if body.allow_ips is not None else UNSET,
            deny_ips=body.deny_ips if body.deny_ips is not None else UNSET,
        )
        return AppOut.of(a)

    @router.delete("/apps/{app_id}", status_code=NO_CONTENT, responses=DELETE)
    async def delete_app(app_id: str, ctx: Ctx, caller: Caller) -> Response:
        access.require_write(caller)
        await visible_app(ctx, caller, app_id)
        await ctx.mutate(ctx.store.delete_app, app_id)
        return Response(status_code=NO_CONTENT)


def add_key_routes(router: APIRouter) -> None:
    async def visible_key(ctx: Ctx, caller: Caller, key_id: str) -> None:
        key = await ctx.call(ctx.store.get_key, key_id)
        access.require_visible(caller, key.tenant, f"key {key_id!r} not found")
        if caller.role == "developer":
            app = await ctx.call(ctx.store.get_app, key.app_id)
            if not access.owns_app(caller, app.tenant, app.created_by):
                raise NotFound(f"key {key_id!r} not found")

    @router.post(
        "/apps/{app_id}/keys", status_code=201, response_model=CreatedKeyOut, responses=CHANGE
    )
    async def create_key(
        app_id: str, ctx: Ctx, caller: Caller, body: KeyCreate | None = None
    ) -> CreatedKeyOut:
        access.require_write(caller)
        await visible_app(ctx, caller, app_id)
        body = body or KeyCreate()
        created = await ctx.mutate(
            ctx.store.create_key, app_id, name=body.name, expires_at=body.expires_at
        )
        return CreatedKeyOut.of(created)

    @router.get("/apps/{app_id}/keys", response_model=KeyList, responses=errors(*READ))
    async def list_keys(app_id: str, ctx: Ctx, caller: Caller) -> KeyList:
        await visible_app(ctx, caller, app_id)
        return KeyList(data=[KeyOut.of(k) for k in await ctx.call(ctx.store.list_keys, app_id)])

    @router.post(
        "/keys/{key_id}/rotate", status_code=201, response_model=CreatedKeyOut, responses=CHANGE
    )
    async def rotate_key(
        key_id: str, ctx: Ctx, caller: Caller, body: KeyRotate | None = None
    ) -> CreatedKeyOut:
        access.require_write(caller)
        await visible_key(ctx, caller, key_id)
        grace = (body or KeyRotate()).grace_seconds
        grace = ctx.rotation_grace() if grace is None else grace
        return CreatedKeyOut.of(await ctx.mutate(ctx.store.rotate_key, key_id, grace))

    @router.delete("/keys/{key_id}", status_code=NO_CONTENT, responses=DELETE)
    async def revoke_key(key_id: str, ctx: Ctx, caller: Caller) -> Response:
        access.require_write(caller)
        await visible_key(ctx, caller, key_id)
        await ctx.mutate(ctx.store.revoke_key, key_id)
        return Response(status_code=NO_CONTENT)


def add_admin_key_routes(router: APIRouter) -> None:
    @router.post(
        "/admin-keys", status_code=201, response_model=CreatedAdminKeyOut, responses=CHANGE
    )
    async def create_admin_key(
        body: AdminKeyCreate, ctx: Ctx, caller: Caller
    ) -> CreatedAdminKeyOut:
        access.require_admin_key_grant(caller, body.role, body.tenant)
        created = await ctx.mutate(ctx.store.create_admin_key, body.role, body.tenant)
        return CreatedAdminKeyOut.of(created.key, created.secret)

    @router.get("/admin-keys", response_model=AdminKeyList, responses=errors(401, 403))
    async def list_admin_keys(ctx: Ctx, caller: Caller) -> AdminKeyList:
        access.require_key_manager(caller)
        keys = await ctx.call(ctx.store.list_admin_keys, caller.tenant)
        return AdminKeyList(data=[AdminKeyOut.of(k) for k in keys])

    @router.delete("/admin-keys/{admin_key_id}", status_code=NO_CONTENT, responses=DELETE)
    async def revoke_admin_key(admin_key_id: str, ctx: Ctx, caller: Caller) -> Response:
        access.require_key_manager(caller)
        key = await ctx.call(ctx.store.get_admin_key, admin_key_id)
        access.require_visible(caller, key.tenant or "", f"admin key {admin_key_id!r} not found")
        await ctx.mutate(ctx.store.revoke_admin_key, admin_key_id)
        return Response(status_code=NO_CONTENT)
