"""Admin routes of subscriptions: ``/subscriptions`` (request, list, show) and
``/subscriptions/{id}/approve | reject | revoke``.

- A request names an app the caller may manage (a developer key: only apps it created) and an
  API its tenant may see; it is ``active`` at once when the API says ``auto``, else
  ``pending``. Only the API owner's admins (or a platform admin) may give it a ``plan``.
- Decisions are a platform admin's or the API-owning tenant's tenant-admin's, with an optional
  reason. A subscription is visible to platform keys, to the keys of the app's tenant (a
  developer: its own apps) and to those of the API's tenant; to anyone else it answers 404.
- Every decision is recorded in the store with who made it and why (``history``) and sent as
  a ``subscription.*`` webhook event (``events.py``); the data plane sees it within a second.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from lockgate.admin import access
from lockgate.admin.context import AdminContext, Caller, Ctx
from lockgate.admin.errors import Conflict
from lockgate.admin.openapi import errors
from lockgate.admin.routes import visible_app
from lockgate.errors import NotFound, PermissionDenied
from lockgate.identity.principal import AdminPrincipal
from lockgate.store.errors import NotFoundError
from lockgate.store.product_records import ApiProduct, Subscription

from .admin import ProductAdmin, Products, find_api, owns, visible
from .admin_schemas import (
    Approve,
    Decide,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionOut,
)
from .lifecycle import SUBSCRIPTION_STATUSES, Decision, callable_status

Status = Literal["pending", "active", "rejected", "revoked"]
STATUSES = ", ".join(SUBSCRIPTION_STATUSES)
DECIDE = errors(400, 401, 403, 404, 409, 413)


def _missing(subscription_id: str) -> NotFound:
    return NotFound(f"subscription {subscription_id!r} not found")


async def _api_or_none(ctx: AdminContext, products: ProductAdmin, name: str) -> ApiProduct | None:
    try:
        return await find_api(ctx, products, name)
    except NotFound:
        return None


def sees(c: AdminPrincipal, s: Subscription, api: ApiProduct | None, app_owner: str | None) -> bool:
    """May ``c`` see this subscription? (``app_owner``: the admin key that created the app)."""
    if c.tenant is None:
        return True
    if c.role == "developer":
        return s.tenant == c.tenant and app_owner == c.key_id
    return s.tenant == c.tenant or (api is not None and api.tenant == c.tenant)


def decides(c: AdminPrincipal, api: ApiProduct | None) -> bool:
    if c.role == "platform-admin":
        return True
    return c.role == "tenant-admin" and api is not None and owns(c, api)


async def _visible(
    ctx: AdminContext, products: ProductAdmin, caller: AdminPrincipal, subscription_id: str
) -> tuple[Subscription, ApiProduct | None]:
    try:
        sub = await ctx.call(ctx.store.products.get_subscription, subscription_id)
    except NotFoundError:
        raise _missing(subscription_id) from None
    api = await _api_or_none(ctx, products, sub.api)
    owner = None
    if caller.role == "developer":
        owner = (await ctx.call(ctx.store.get_app, sub.app_id)).created_by
    if not sees(caller, sub, api, owner):
        raise _missing(subscription_id)
    return sub, api


def add_subscription_routes(router: APIRouter) -> None:
    @router.post(
        "/subscriptions",
        status_code=201,
        response_model=SubscriptionOut,
        responses=errors(400, 401, 403, 404, 409, 413),
    )
    async def request_subscription(
        body: SubscriptionCreate, ctx: Ctx, caller: Caller, products: Products
    ) -> SubscriptionOut:
        access.require_write(caller)
        app = await visible_app(ctx, caller, body.app_id)
        api = await _api_or_none(ctx, products, body.api)
        if api is None or not visible(caller, api):
            raise NotFound(f"API {body.api!r} not found", param="api")
        if not any(callable_status(v.status) for v in api.versions):
            raise _conflict(f"API {body.api!r} has no published version to subscribe to")
        plan = api.plan
        if "plan" in body.model_fields_set:
            if not decides(caller, api):
                raise PermissionDenied(
                    "only the API owner's admins may set a subscription's plan", param="plan"
                )
            ctx.check_plan(body.plan)
            plan = body.plan
        sub = await ctx.mutate(
            ctx.store.products.request_subscription,
            app.id,
            api.name,
            mode=api.subscription,
            plan=plan,
            reason=body.reason,
            actor=caller.key_id,
        )
        return SubscriptionOut.of(sub)

    @router.get("/subscriptions", response_model=SubscriptionList, responses=errors(400, 401))
    async def list_subscriptions(
        ctx: Ctx,
        caller: Caller,
        products: Products,
        status: Annotated[Status | None, Query(description=STATUSES)] = None,
        api: str | None = None,
        app: Annotated[str | None, Query(description="An app id.")] = None,
    ) -> SubscriptionList:
        subs = await ctx.call(
            ctx.store.products.list_subscriptions, status=status, api=api, app_id=app
        )
        return SubscriptionList(data=await _shown(ctx, products, caller, subs))

    @router.get(
        "/subscriptions/{subscription_id}",
        response_model=SubscriptionOut,
        responses=errors(401, 404),
    )
    async def get_subscription(
        subscription_id: str, ctx: Ctx, caller: Caller, products: Products
    ) -> SubscriptionOut:
        sub, _ = await _visible(ctx, products, caller, subscription_id)
        history = await ctx.call(ctx.store.products.subscription_events, sub.id)
        return SubscriptionOut.of(sub, history)

    _add_decision_routes(router)


def _add_decision_routes(router: APIRouter) -> None:
    @router.post(
        "/subscriptions/{subscription_id}/approve", response_model=SubscriptionOut, responses=DECIDE
    )
    async def approve_subscription(
        subscription_id: str,
        ctx: Ctx,
        caller: Caller,
        products: Products,
        body: Approve | None = None,
    ) -> SubscriptionOut:
        return await _decide(ctx, products, caller, subscription_id, "approve", body or Approve())

    @router.post(
        "/subscriptions/{subscription_id}/reject", response_model=SubscriptionOut, responses=DECIDE
    )
    async def reject_subscription(
        subscription_id: str,
        ctx: Ctx,
        caller: Caller,
        products: Products,
        body: Decide | None = None,
    ) -> SubscriptionOut:
        return await _decide(ctx, products, caller, subscription_id, "reject", body or Decide())

    @router.post(
        "/subscriptions/{subscription_id}/revoke", response_model=SubscriptionOut, responses=DECIDE
    )
    async def revoke_subscription(
        subscription_id: str,
        ctx: Ctx,
        caller: Caller,
        products: Products,
        body: Decide | None = None,
    ) -> SubscriptionOut:
        return await _decide(ctx, products, caller, subscription_id, "revoke", body or Decide())


async def _decide(
    ctx: AdminContext,
    products: ProductAdmin,
    caller: AdminPrincipal,
    subscription_id: str,
    decision: Decision,
    body: Decide,
) -> SubscriptionOut:
    """Role (constant 403), visibility (404), then the right to decide for this API (403)."""
    if caller.role not in ("platform-admin", "tenant-admin"):
        raise PermissionDenied(
            "only a platform-admin or the API owner's tenant-admin may decide subscriptions"
        )
    sub, api = await _visible(ctx, products, caller, subscription_id)
    if not decides(caller, api):
        raise PermissionDenied(
            f"only the admins of the tenant that owns API {sub.api!r} may decide its subscriptions"
        )
    set_plan = isinstance(body, Approve) and "plan" in body.model_fields_set
    plan = body.plan if isinstance(body, Approve) else None
    if set_plan:
        ctx.check_plan(plan)
    out = await ctx.mutate(
        ctx.store.products.decide,
        sub.id,
        decision,
        actor=caller.key_id,
        reason=body.reason,
        plan=plan,
        set_plan=set_plan,
    )
    history = await ctx.call(ctx.store.products.subscription_events, sub.id)
    return SubscriptionOut.of(out, history)


async def _shown(
    ctx: AdminContext, products: ProductAdmin, caller: AdminPrincipal, subs: list[Subscription]
) -> list[SubscriptionOut]:
    if caller.tenant is None:
        return [SubscriptionOut.of(s) for s in subs]
    owners: dict[str, str | None] = {}
    if caller.role == "developer":
        for app in await ctx.call(ctx.store.list_apps, caller.tenant):
            owners[app.id] = app.created_by
    apis: dict[str, ApiProduct | None] = {}
    out = []
    for s in subs:
        if s.api not in apis:
            apis[s.api] = await _api_or_none(ctx, products, s.api)
        if sees(caller, s, apis[s.api], owners.get(s.app_id)):
            out.append(SubscriptionOut.of(s))
    return out


def _conflict(message: str) -> Conflict:
    return Conflict(message, param="api")
