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
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from lockgate.store.audit_repo import Verdict

from . import console, portal
from .portal import Catalog
from .signin import sign_in_endpoint, sign_out_endpoint
from .web import CONSOLE, PORTAL, SECURITY_HEADERS, Area, Handler, Web, signed_in

STATIC = Path(__file__).parent / "static"
PREFIXES = ("/console", "/portal", "/ui/")


def handles(path: str) -> bool:
    return path.startswith(PREFIXES) and (
        path.startswith("/ui/")
        or path in ("/console", "/portal")
        or path.startswith(("/console/", "/portal/"))
    )


def _routes(web: Web, area: Area, pages: list[tuple[str, Handler, str]]) -> list[Route]:
    routes = [
        Route(f"{area.home}/sign-in", sign_in_endpoint(web, area), methods=["GET", "POST"]),  # type: ignore[arg-type]
        Route(f"{area.home}/sign-out", sign_out_endpoint(web, area), methods=["POST"]),  # type: ignore[arg-type]
    ]
    for path, handler, method in pages:
        write = method == "POST"
        endpoint = signed_in(web, area, handler, write=write)
        routes.append(Route(area.home + path, endpoint, methods=[method]))
    return routes


def console_pages(verify: Callable[[], Awaitable[Verdict]]) -> list[tuple[str, Handler, str]]:
    c = console
    return [
        ("", c.overview, "GET"),
        ("/tenants", c.tenants, "GET"),
        ("/tenants", c.create_tenant, "POST"),
        ("/tenants/{tenant}", c.tenant, "GET"),
        ("/tenants/{tenant}/apps", c.create_app, "POST"),
        ("/apps/{app_id}", c.app_page, "GET"),
        ("/apps/{app_id}/keys", c.create_key, "POST"),
        ("/apps/{app_id}/keys", c.keys_page, "GET"),
        ("/keys/{key_id}/rotate", c.rotate_key, "POST"),
        ("/keys/{key_id}/revoke", c.revoke_key, "POST"),
        ("/subscriptions", c.subscriptions, "GET"),
        ("/subscriptions/{sub_id}/{action}", c.decide, "POST"),
        ("/apis", c.apis, "GET"),
        ("/apis", c.create_api, "POST"),
        ("/apis/{name}", c.api_page, "GET"),
        ("/apis/{name}/versions", c.add_version, "POST"),
        ("/apis/{name}/versions/{version}/{action}", c.lifecycle, "POST"),
        ("/usage", c.usage, "GET"),
        ("/requests", c.requests, "GET"),
        ("/requests/{request_id}", c.request_detail, "GET"),
        ("/limits", c.limits, "GET"),
        ("/deployments", c.deployments, "GET"),
        ("/audit", c.audit_endpoint(verify), "GET"),
    ]


def portal_pages(catalog: Catalog) -> list[tuple[str, Handler, str]]:
    p = portal
    return [
        ("", p.catalog_endpoint(catalog), "GET"),
        ("/apis/{name}", p.api_endpoint(catalog), "GET"),
        ("/apps", p.apps, "GET"),
        ("/apps", p.create_app, "POST"),
        ("/apps/{app_id}", console.app_page, "GET"),
        ("/apps/{app_id}/keys", console.create_key, "POST"),
        ("/apps/{app_id}/keys", console.keys_page, "GET"),
        ("/apps/{app_id}/subscribe", p.subscribe, "POST"),
        ("/keys/{key_id}/rotate", console.rotate_key, "POST"),
        ("/keys/{key_id}/revoke", console.revoke_key, "POST"),
        ("/usage", console.usage, "GET"),
        ("/requests", console.requests, "GET"),
        ("/requests/{request_id}", console.request_detail, "GET"),
    ]


class StaticWithHeaders:
    """The shipped CSS and script, cacheable, with the same CSP as the pages."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (
                        b"content-security-policy",
                        SECURITY_HEADERS["content-security-policy"].encode(),
                    ),
                    (b"cache-control", b"public, max-age=3600"),
                ]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.files(scope, receive, with_headers)  # type: ignore[arg-type]


def create_ui(web: Web, *, verify: Callable[[], Awaitable[Verdict]], catalog: Catalog) -> ASGIApp:
    routes: list[Any] = [
        *_routes(web, CONSOLE, console_pages(verify)),
        *_routes(web, PORTAL, portal_pages(catalog)),
    ]
    router = Router(routes)
    static = StaticWithHeaders()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith("/ui/static/"):
            sub = dict(scope)
            sub["path"] = path[len("/ui/static") :]
            sub["root_path"] = scope.get("root_path", "") + "/ui/static"
            await static(sub, receive, send)
            return
        await router(scope, receive, send)

    return app
