"""``/portal``: the developer's catalog, apps, keys, subscriptions, usage and recent requests.

A developer admin key sees the apps it created (the admin API scopes it); a tenant-admin sees
its tenant's. The catalog lists the API products the caller may subscribe to, each version's
OpenAPI document and copy-paste examples, and the models each of the caller's apps may call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .adminapi import AdminApiError
from .console import app_page, q, visible_apps
from .web import SECURITY_HEADERS, Page, redirect

ApiDocument = Callable[[str, int], dict[str, Any] | None]
AllowedModels = Callable[[str | None, tuple[str, ...]], Collection[str]]


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the portal reads from the running gateway besides the admin API."""

    document: ApiDocument  # a published version's OpenAPI document (drafts: None)
    models: AllowedModels  # the models a plan and roles may call


def base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def my_apps(p: Page) -> list[dict[str, Any]]:
    return await visible_apps(p)  # a developer's: the apps it created (the admin API's rule)


def catalog_endpoint(catalog: Catalog) -> Callable[[Page], Any]:
    async def home(p: Page) -> Response:
        apis = await p.data("/apis")
        apps = await my_apps(p)
        plans = {}  # an app's effective plan: its own, else its tenant's
        for tenant in {a["tenant"] for a in apps}:
            plans[tenant] = (await p.api("GET", f"/tenants/{q(tenant)}")).get("plan")
        models = {
            a["id"]: sorted(
                catalog.models(a.get("plan") or plans[a["tenant"]], tuple(a.get("roles") or ()))
            )
            for a in apps
        }
        for api in apis:
            api["public"] = [v for v in api.get("versions", []) if v.get("status") != "draft"]
        return p.render(
            "portal/home.html", apis=apis, apps=apps, models=models, base=base_url(p.request)
        )

    return home


def api_endpoint(catalog: Catalog) -> Callable[[Page], Any]:
    async def api_page(p: Page) -> Response:
        name = p.request.path_params["name"]
        api = await p.api("GET", f"/apis/{q(name)}")  # 404 unless the caller may see it
        versions = [v for v in api.get("versions", []) if v.get("status") != "draft"]
        documents = []
        for v in versions:
            doc = catalog.document(name, int(v["version"]))
            text = json.dumps(doc, indent=2, sort_keys=True) if doc is not None else None
            documents.append({"version": v, "openapi": text, "example": _example(v)})
        apps = await my_apps(p)
        return p.render(
            "portal/api.html",
            api=api,
            documents=documents,
            apps=apps,
            base=base_url(p.request),
        )

    return api_page


def document_endpoint(catalog: Catalog) -> Callable[[Page], Any]:
    """One version's OpenAPI document as JSON, for tools (the page shows it too)."""

    async def document(p: Page) -> Response:
        name = p.request.path_params["name"]
        await p.api("GET", f"/apis/{q(name)}")  # 404 unless the caller may see it
        number = p.request.path_params["version"].removeprefix("v")
        doc = catalog.document(name, int(number)) if number.isdigit() else None
        if doc is None:
            return p.render("not_found.html", 404, message=f"API {name} has no such version")
        return JSONResponse(doc, headers=SECURITY_HEADERS)

    return document


def _example(v: dict[str, Any]) -> str:
    """A JSON body for the examples: each required input with a placeholder of its type."""
    schema = v.get("input_schema") or {}
    props = schema.get("properties") or {}
    body: dict[str, Any] = {}
    for field in schema.get("required") or list(props)[:1]:
        kind = (props.get(field) or {}).get("type")
        body[field] = 3 if kind == "integer" else 0.5 if kind == "number" else "..."
    return json.dumps(body)


async def apps(p: Page, error: str | None = None, status: int = 200) -> Response:
    found = await my_apps(p)
    tenant_names = sorted({str(a["tenant"]) for a in found})
    return p.render("portal/apps.html", status, apps=found, tenants=tenant_names, error=error)


async def create_app(p: Page) -> Response:
    tenant = p.caller.tenant or p.form.get("tenant", "")
    try:
        app = await p.api("POST", f"/tenants/{q(tenant)}/apps", body={"name": p.form.get("name")})
    except AdminApiError as err:
        return await apps(p, err.message, err.status)
    return redirect(f"/portal/apps/{q(app['id'])}", p.request)


async def subscribe(p: Page) -> Response:
    app_id = p.request.path_params["app_id"]
    body = {"app_id": app_id, "api": p.form.get("api", ""), "reason": p.form.get("reason") or None}
    try:
        await p.api("POST", "/subscriptions", body=body)
    except AdminApiError as err:
        return await app_page(p, error=err.message, status=err.status)  # 404: not theirs

    return redirect(f"/portal/apps/{q(app_id)}", p.request)
