"""Admin routes of API products: ``/apis`` (create, edit drafts, version, publish,
deprecate, retire). Subscriptions are in ``admin_subscriptions.py``.

Who may do what: a platform admin manages every API; a tenant-admin manages its tenant's APIs
(created as its tenant's); other roles read. An API is visible to a tenant-scoped key when its
tenant owns it (all versions, drafts included) or when it has a version that is not a draft;
otherwise it answers 404, like an API that does not exist. Config-defined APIs are listed but
read-only here (403): the config file is their source.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from lockgate.admin import access
from lockgate.admin.context import AdminContext, Caller, Ctx
from lockgate.admin.errors import Conflict
from lockgate.admin.openapi import errors
from lockgate.errors import InvalidRequest, NotFound, PermissionDenied
from lockgate.identity.principal import AdminPrincipal
from lockgate.store.errors import NotFoundError
from lockgate.store.product_records import ApiProduct, ApiVersion

from .admin_schemas import (
    ApiCreate,
    ApiList,
    ApiOut,
    ApiPatch,
    Deprecate,
    Retire,
    VersionCreate,
    VersionOut,
    VersionPatch,
)
from .catalog import EMPTY, ProductIndex
from .lifecycle import parse_version
from .route import public_versions

MANAGE = errors(400, 401, 403, 404, 409, 413)
READ = errors(401, 404)


def _empty() -> ProductIndex:
    return EMPTY


@dataclass(frozen=True, slots=True)
class ProductAdmin:
    """What the product routes read from the running gateway: the config's APIs and the
    configured models (name -> kind, None for a model that serves either route; ``models``
    None accepts any model name)."""

    config: Callable[[], ProductIndex] = _empty
    models: Callable[[], Mapping[str, str | None]] | None = None
    clock: Callable[[], float] = field(default=time.time)


def get_products(request: Request) -> ProductAdmin:
    found = getattr(request.app.state, "lockgate_products", None)
    return found if isinstance(found, ProductAdmin) else ProductAdmin()


Products = Annotated[ProductAdmin, Depends(get_products)]


# --- visibility and rights -------------------------------------------------------------------


def owns(c: AdminPrincipal, api: ApiProduct) -> bool:
    return c.tenant is None or (api.tenant is not None and api.tenant == c.tenant)


def versions_for(c: AdminPrincipal, api: ApiProduct) -> list[ApiVersion]:
    return list(api.versions) if owns(c, api) else public_versions(api)


def visible(c: AdminPrincipal, api: ApiProduct) -> bool:
    return owns(c, api) or bool(public_versions(api))


def missing(name: str) -> NotFound:
    return NotFound(f"API {name!r} not found")


async def find_api(ctx: AdminContext, products: ProductAdmin, name: str) -> ApiProduct:
    found = products.config().api(name)
    if found is not None:
        return found
    try:
        return await ctx.call(ctx.store.products.get_api, name)
    except NotFoundError:
        raise missing(name) from None


async def visible_api(
    ctx: AdminContext, products: ProductAdmin, caller: AdminPrincipal, name: str
) -> ApiProduct:
    api = await find_api(ctx, products, name)
    if not visible(caller, api):
        raise missing(name)
    return api


def require_manager(c: AdminPrincipal) -> None:
    if c.role not in ("platform-admin", "tenant-admin"):
        raise PermissionDenied("only a platform-admin or tenant-admin key may manage APIs")


async def managed_api(
    ctx: AdminContext, products: ProductAdmin, caller: AdminPrincipal, name: str
) -> ApiProduct:
    """The API, if the caller may change it: 403 for a role that manages none, 404 when it
    cannot see it, 403 when it belongs to another tenant or to the config file."""
    require_manager(caller)
    api = await visible_api(ctx, products, caller, name)
    if not owns(caller, api):
        raise PermissionDenied(f"API {name!r} belongs to another tenant")
    if api.source == "config":
        raise PermissionDenied(
            f"API {name!r} is defined in the config file; change it there", code="read_only"
        )
    return api


def version_number(api: ApiProduct, text: str, c: AdminPrincipal) -> ApiVersion:
    number = parse_version(text)
    found = api.version(number) if number is not None else None
    if found is None or found not in versions_for(c, api):
        raise NotFound(f"API {api.name!r} has no version {text!r}")
    return found


def check_model(products: ProductAdmin, model: str | None) -> None:
    if model is None or products.models is None:
        return
    known = products.models()
    if model not in known or known[model] == "embedding":
        names = ", ".join(sorted(n for n, k in known.items() if k != "embedding")) or "none"
        raise InvalidRequest(
            f"model: {model!r} is not a configured chat model (chat models: {names})",
            param="model",
        )


def _moment(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def api_out(c: AdminPrincipal, api: ApiProduct) -> ApiOut:
    return ApiOut.of(api, versions_for(c, api), show_tenant=owns(c, api))


# --- routes ----------------------------------------------------------------------------------


def add_api_routes(router: APIRouter) -> None:
    _add_api_routes(router)
    _add_version_routes(router)
    _add_lifecycle_routes(router)


def _add_api_routes(router: APIRouter) -> None:
    @router.get("/apis", response_model=ApiList, responses=errors(401))
    async def list_apis(ctx: Ctx, caller: Caller, products: Products) -> ApiList:
        apis = {a.name: a for a in await ctx.call(ctx.store.products.list_apis)}
        apis.update({a.name: a for a in products.config().apis()})
        shown = [api_out(caller, apis[n]) for n in sorted(apis) if visible(caller, apis[n])]
        return ApiList(data=shown)

    @router.post("/apis", status_code=201, response_model=ApiOut, responses=MANAGE)
    async def create_api(body: ApiCreate, ctx: Ctx, caller: Caller, products: Products) -> ApiOut:
        require_manager(caller)
        tenant = body.tenant if body.tenant is not None else caller.tenant
        if caller.tenant is not None:
            access.require_visible(caller, tenant or "", f"tenant {tenant!r} not found")
        ctx.check_plan(body.plan)
        if products.config().api(body.name) is not None:
            raise _taken(body.name)
        api = await ctx.mutate(
            ctx.store.products.create_api,
            body.name,
            tenant=tenant,
            description=body.description,
            subscription=body.subscription,
            plan=body.plan,
            created_by=caller.key_id,
        )
        return api_out(caller, api)

    @router.get("/apis/{name}", response_model=ApiOut, responses=READ)
    async def get_api(name: str, ctx: Ctx, caller: Caller, products: Products) -> ApiOut:
        return api_out(caller, await visible_api(ctx, products, caller, name))

    @router.patch("/apis/{name}", response_model=ApiOut, responses=MANAGE)
    async def update_api(
        name: str, body: ApiPatch, ctx: Ctx, caller: Caller, products: Products
    ) -> ApiOut:
        await managed_api(ctx, products, caller, name)
        given = body.model_fields_set
        if "plan" in given:
            ctx.check_plan(body.plan)
        if "subscription" in given and body.subscription is None:
            raise InvalidRequest("subscription: must be auto or manual", param="subscription")
        fields = {f: getattr(body, f) for f in given}
        api = await ctx.mutate(ctx.store.products.update_api, name, **fields)
        return api_out(caller, api)

    @router.delete("/apis/{name}", status_code=204, responses=errors(401, 403, 404, 409))
    async def delete_api(name: str, ctx: Ctx, caller: Caller, products: Products) -> Response:
        await managed_api(ctx, products, caller, name)
        await ctx.mutate(ctx.store.products.delete_api, name)
        return Response(status_code=204)


def _taken(name: str) -> Conflict:
    return Conflict(f"API {name!r} already exists (in the config file)", param="name")


def _add_version_routes(router: APIRouter) -> None:
    @router.post(
        "/apis/{name}/versions", status_code=201, response_model=VersionOut, responses=MANAGE
    )
    async def add_version(
        name: str, body: VersionCreate, ctx: Ctx, caller: Caller, products: Products
    ) -> VersionOut:
        await managed_api(ctx, products, caller, name)
        check_model(products, body.model)
        fields = body.model_dump(exclude={"version"}, exclude_none=True)
        v = await ctx.mutate(ctx.store.products.add_version, name, version=body.version, **fields)
        return VersionOut.of(name, v)

    @router.get("/apis/{name}/versions/{version}", response_model=VersionOut, responses=READ)
    async def get_version(
        name: str, version: str, ctx: Ctx, caller: Caller, products: Products
    ) -> VersionOut:
        api = await visible_api(ctx, products, caller, name)
        return VersionOut.of(name, version_number(api, version, caller))

    @router.patch("/apis/{name}/versions/{version}", response_model=VersionOut, responses=MANAGE)
    async def update_version(
        name: str, version: str, body: VersionPatch, ctx: Ctx, caller: Caller, products: Products
    ) -> VersionOut:
        api = await managed_api(ctx, products, caller, name)
        v = version_number(api, version, caller)
        check_model(products, body.model)
        fields = {f: getattr(body, f) for f in body.model_fields_set}
        for required in ("model", "template"):
            if required in fields and fields[required] is None:
                raise InvalidRequest(f"{required}: cannot be null", param=required)
        out = await ctx.mutate(ctx.store.products.update_version, name, v.version, **fields)
        return VersionOut.of(name, out)

    @router.delete(
        "/apis/{name}/versions/{version}", status_code=204, responses=errors(401, 403, 404, 409)
    )
    async def delete_version(
        name: str, version: str, ctx: Ctx, caller: Caller, products: Products
    ) -> Response:
        api = await managed_api(ctx, products, caller, name)
        v = version_number(api, version, caller)
        await ctx.mutate(ctx.store.products.delete_version, name, v.version)
        return Response(status_code=204)


async def transition(
    ctx: AdminContext,
    products: ProductAdmin,
    caller: AdminPrincipal,
    name: str,
    version: str,
    action: str,
    **fields: Any,
) -> VersionOut:
    api = await managed_api(ctx, products, caller, name)
    v = version_number(api, version, caller)
    out = await ctx.mutate(ctx.store.products.transition, name, v.version, action, **fields)
    return VersionOut.of(name, out)


def _add_lifecycle_routes(router: APIRouter) -> None:
    with_body = errors(400, 401, 403, 404, 409, 413)

    @router.post(
        "/apis/{name}/versions/{version}/publish", response_model=VersionOut, responses=with_body
    )
    async def publish(
        name: str, version: str, ctx: Ctx, caller: Caller, products: Products
    ) -> VersionOut:
        return await transition(ctx, products, caller, name, version, "publish")

    @router.post(
        "/apis/{name}/versions/{version}/deprecate", response_model=VersionOut, responses=with_body
    )
    async def deprecate(
        name: str,
        version: str,
        ctx: Ctx,
        caller: Caller,
        products: Products,
        body: Deprecate | None = None,
    ) -> VersionOut:
        b = body or Deprecate()
        return await transition(
            ctx,
            products,
            caller,
            name,
            version,
            "deprecate",
            sunset=_moment(b.sunset),
            successor=b.successor,
        )

    @router.post(
        "/apis/{name}/versions/{version}/retire", response_model=VersionOut, responses=with_body
    )
    async def retire(
        name: str,
        version: str,
        ctx: Ctx,
        caller: Caller,
        products: Products,
        body: Retire | None = None,
    ) -> VersionOut:
        b = body or Retire()
        return await transition(
            ctx, products, caller, name, version, "retire", successor=b.successor
        )
