"""``create_admin_app``: the ``/admin/v1`` API for tenants, apps, keys and admin keys.

Routes are relative (``/tenants``...): the gateway mounts this app at ``/admin/v1``. Store
calls run in a thread (the store is synchronous and never on the hot path); after every
mutation ``on_identity_change`` is awaited so this replica's key index is current at once.
The API sits behind ``AdminGuard``, which checks the admin key and bounds the body before
FastAPI reads anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from fastapi import APIRouter, FastAPI

from lockgate.apis.admin import ProductAdmin, add_api_routes
from lockgate.apis.admin_subscriptions import add_subscription_routes
from lockgate.identity.principal import AdminPrincipal
from lockgate.observability.service import Analytics
from lockgate.store.repo import Store

from . import openapi
from .analytics import add_analytics_routes
from .context import AdminContext
from .deployments import DeploymentsReport, add_deployment_routes
from .errors import install_error_handlers
from .guard import AdminGuard
from .limits import LimitsReport, add_limit_routes
from .routes import add_admin_key_routes, add_app_routes, add_key_routes, add_tenant_routes

ADMIN_PREFIX = "/admin/v1"


def create_admin_app(
    *,
    store: Store,
    admin_auth: Callable[[str], AdminPrincipal | None],
    on_identity_change: Callable[[], Awaitable[None]],
    plan_names: Callable[[], Collection[str]] | None = None,
    limits_report: LimitsReport | None = None,
    rotation_grace: Callable[[], float] | None = None,
    max_body_bytes: int = 64 * 1024,
    analytics: Analytics | None = None,
    deployments_report: DeploymentsReport | None = None,
    products: ProductAdmin | None = None,
) -> AdminGuard:
    """``plan_names`` lists the configured plans (read per call, so reloads apply); ``None``
    accepts any plan name. ``rotation_grace`` is the default grace of a key rotation.
    ``max_body_bytes`` is ``server.max_admin_body_bytes``."""
    app = FastAPI(
        title="Lockgate admin API",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.lockgate_admin = AdminContext(
        store, admin_auth, on_identity_change, plan_names, rotation_grace or (lambda: 3600.0)
    )
    app.state.lockgate_products = products or ProductAdmin()  # API products (lockgate.apis)
    install_error_handlers(app)
    router = APIRouter()
    add_tenant_routes(router)
    add_app_routes(router)
    add_key_routes(router)
    add_admin_key_routes(router)
    if limits_report is not None:
        add_limit_routes(router, limits_report)
    if analytics is not None:
        app.state.lockgate_analytics = analytics
        add_analytics_routes(router)
    if deployments_report is not None:
        add_deployment_routes(router, deployments_report)
    add_api_routes(router)
    add_subscription_routes(router)
    app.include_router(router)
    openapi.install(app, ADMIN_PREFIX)
    return AdminGuard(app, admin_auth=admin_auth, max_body_bytes=max_body_bytes)
