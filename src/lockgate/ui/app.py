"""``create_ui``: the web console (``/console``), the developer portal (``/portal``) and their
static files (``/ui/static``) as one ASGI app, mounted by the gateway beside the admin API.

The gateway builds it on the first request to one of those paths, so a gateway whose UI is
never opened (or is switched off with ``server.web_ui: false``) imports and runs none of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from lockgate.store.audit_repo import Verdict

from . import console, insights, portal, products
from .portal import Catalog
from .signin import sign_in_endpoint, sign_out_endpoint
from .web import CONSOLE, PORTAL, Area, Handler, Web, signed_in

STATIC = Path(__file__).parent / "static"


def _routes(web: Web, area: Area, pages: list[tuple[str, Handler, str]]) -> list[Route]:
    routes = [
        Route(f"{area.home}/sign-in", sign_in_endpoint(web, area), methods=["GET", "POST"]),
        Route(f"{area.home}/sign-out", sign_out_endpoint(web, area), methods=["POST"]),
    ]
    for path, handler, method in pages:
        write = method == "POST"
        endpoint = signed_in(web, area, handler, write=write)
        routes.append(Route(area.home + path, endpoint, methods=[method]))
    return routes


def console_pages(verify: Callable[[], Awaitable[Verdict]]) -> list[tuple[str, Handler, str]]:
    c = console
    return [
        ("", insights.overview, "GET"),
        ("/tenants", c.tenants, "GET"),
        ("/tenants", c.create_tenant, "POST"),
        ("/tenants/{tenant}", c.tenant, "GET"),
        ("/tenants/{tenant}/apps", c.create_app, "POST"),
        ("/tenants/{tenant}/plan", c.update_tenant, "POST"),
        ("/tenants/{tenant}/delete", c.delete_tenant, "POST"),
        ("/apps/{app_id}/policy", c.update_app, "POST"),
        ("/apps/{app_id}/delete", c.delete_app, "POST"),
        ("/apps/{app_id}", c.app_page, "GET"),
        ("/apps/{app_id}/keys", c.create_key, "POST"),
        ("/apps/{app_id}/keys", c.keys_page, "GET"),
        ("/keys/{key_id}/rotate", c.rotate_key, "POST"),
        ("/keys/{key_id}/revoke", c.revoke_key, "POST"),
        ("/subscriptions", products.subscriptions, "GET"),
        ("/subscriptions/{sub_id}/{action}", products.decide, "POST"),
        ("/apis", products.apis, "GET"),
        ("/apis", products.create_api, "POST"),
        ("/apis/{name}", products.api_page, "GET"),
        ("/apis/{name}/versions", products.add_version, "POST"),
        ("/apis/{name}/versions/{version}/{action}", products.lifecycle, "POST"),
        ("/usage", insights.usage, "GET"),
        ("/requests", insights.requests, "GET"),
        ("/requests/{request_id}", insights.request_detail, "GET"),
        ("/limits", insights.limits, "GET"),
        ("/deployments", insights.deployments, "GET"),
        ("/audit", insights.audit_endpoint(verify), "GET"),
        ("/admin-keys", c.admin_keys, "GET"),
        ("/admin-keys", c.create_admin_key, "POST"),
        ("/admin-keys/{key_id}/revoke", c.revoke_admin_key, "POST"),
    ]


def portal_pages(catalog: Catalog) -> list[tuple[str, Handler, str]]:
    p = portal
    return [
        ("", p.catalog_endpoint(catalog), "GET"),
        ("/apis/{name}", p.api_endpoint(catalog), "GET"),
        ("/apis/{name}/{version}/openapi.json", p.document_endpoint(catalog), "GET"),
        ("/apps", p.apps, "GET"),
        ("/apps", p.create_app, "POST"),
        ("/apps/{app_id}", console.app_page, "GET"),
        ("/apps/{app_id}/keys", console.create_key, "POST"),
        ("/apps/{app_id}/keys", console.keys_page, "GET"),
        ("/apps/{app_id}/subscribe", p.subscribe, "POST"),
        ("/apps/{app_id}/delete", console.delete_app, "POST"),
        ("/keys/{key_id}/rotate", console.rotate_key, "POST"),
        ("/keys/{key_id}/revoke", console.revoke_key, "POST"),
        ("/usage", insights.usage, "GET"),
        ("/requests", insights.requests, "GET"),
        ("/requests/{request_id}", insights.request_detail, "GET"),
    ]


TYPES = {".css": b"text/css; charset=utf-8", ".js": b"text/javascript; charset=utf-8"}


class Static:
    """The shipped CSS and script (read once; a few hundred KB), cacheable, nothing else."""

    def __init__(self) -> None:
        self.files = {
            f"/{f.name}": (f.read_bytes(), TYPES[f.suffix])
            for f in STATIC.iterdir()
            if f.suffix in TYPES
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.files.get(scope["path"][len("/ui/static") :])
        if found is None or scope["method"] not in ("GET", "HEAD"):
            body, kind, status = b"not found", b"text/plain; charset=utf-8", 404
        else:
            (body, kind), status = found, 200
        headers = [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"public, max-age=3600" if status == 200 else b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


def create_ui(web: Web, *, verify: Callable[[], Awaitable[Verdict]], catalog: Catalog) -> ASGIApp:
    routes: list[Any] = [
        *_routes(web, CONSOLE, console_pages(verify)),
        *_routes(web, PORTAL, portal_pages(catalog)),
    ]

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        area = PORTAL if scope["path"].startswith(PORTAL.home) else CONSOLE
        page = web.html("not_found.html", 404, area=area, message="There is no such page.")
        await page(scope, receive, send)

    router = Router(routes, default=not_found)
    static = Static()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith("/ui/static/"):
            await static(scope, receive, send)
            return
        await router(scope, receive, send)

    return app
