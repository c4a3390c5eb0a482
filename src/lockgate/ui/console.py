"""``/console``: tenants, apps and keys, and admin keys (the portal shares the app pages).

Every read and change goes through the admin API (``adminapi``), so a tenant-admin sees its
tenant only and another tenant's page is the admin API's 404. Subscriptions and API products
are in ``products``; usage, requests, limits, deployments and audit in ``insights``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from .adminapi import AdminApiError
from .web import Page, redirect


def q(value: str) -> str:
    return quote(value, safe="")


async def visible_apps(p: Page, max_tenants: int | None = None) -> list[dict[str, Any]]:
    """The apps the caller may see, through the admin API (one call per visible tenant)."""
    if p.caller.tenant:
        names = [p.caller.tenant]
    else:
        names = [t["name"] for t in await p.data("/tenants")]
        if max_tenants is not None and len(names) > max_tenants:
            return []
    apps: list[dict[str, Any]] = []
    for name in names:
        apps.extend(await p.data(f"/tenants/{q(name)}/apps"))
    return apps


# --- tenants, apps, keys ---------------------------------------------------------------------


async def tenants(p: Page, error: str | None = None, status: int = 200) -> Response:
    return p.render("console/tenants.html", status, tenants=await p.data("/tenants"), error=error)


async def create_tenant(p: Page) -> Response:
    body: dict[str, Any] = {"name": p.form.get("name", "")}
    if p.form.get("plan"):
        body["plan"] = p.form["plan"]
    try:
        await p.api("POST", "/tenants", body=body)
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await tenants(p, err.message, err.status)
    return redirect(f"/console/tenants/{q(body['name'])}", p.request)


async def tenant(p: Page, error: str | None = None, status: int = 200) -> Response:
    name = p.request.path_params["tenant"]
    found = await p.api("GET", f"/tenants/{q(name)}")
    apps = await p.data(f"/tenants/{q(name)}/apps")
    return p.render("console/tenant.html", status, tenant=found, apps=apps, error=error)


async def create_app(p: Page) -> Response:
    name = p.request.path_params["tenant"]
    try:
        app = await p.api("POST", f"/tenants/{q(name)}/apps", body={"name": p.form.get("name")})
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await tenant(p, err.message, err.status)
    return redirect(f"{p.area.home}/apps/{q(app['id'])}", p.request)


async def update_tenant(p: Page) -> Response:
    name = p.request.path_params["tenant"]
    try:
        await p.api("PATCH", f"/tenants/{q(name)}", body={"plan": p.form.get("plan") or None})
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await tenant(p, err.message, err.status)
    return redirect(f"/console/tenants/{q(name)}", p.request)


async def delete_tenant(p: Page) -> Response:
    name = p.request.path_params["tenant"]
    cascade = "true" if p.form.get("cascade") == "yes" else None
    try:
        await p.api("DELETE", f"/tenants/{q(name)}", query={"cascade": cascade})
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await tenant(p, err.message, err.status)
    return redirect("/console/tenants", p.request)


async def update_app(p: Page) -> Response:
    app_id = p.request.path_params["app_id"]
    roles = [r.strip() for r in p.form.get("roles", "").split(",") if r.strip()]
    body = {"plan": p.form.get("plan") or None, "roles": roles}
    try:
        await p.api("PATCH", f"/apps/{q(app_id)}", body=body)
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await app_page(p, error=err.message, status=err.status)
    return redirect(f"{p.area.home}/apps/{q(app_id)}", p.request)


async def delete_app(p: Page) -> Response:
    app_id = p.request.path_params["app_id"]
    app = await p.api("GET", f"/apps/{q(app_id)}")
    await p.api("DELETE", f"/apps/{q(app_id)}")
    if p.area.name == "portal":
        return redirect("/portal/apps", p.request)
    return redirect(f"/console/tenants/{q(app['tenant'])}", p.request)


async def app_page(
    p: Page, *, created: Any = None, error: str | None = None, status: int = 200
) -> Response:
    app_id = p.request.path_params["app_id"]
    app = await p.api("GET", f"/apps/{q(app_id)}")
    keys = await p.data(f"/apps/{q(app_id)}/keys")
    subscriptions = await p.data("/subscriptions", app=app_id)
    apis = await p.data("/apis")
    return p.render(
        "app.html",
        status,
        app=app,
        keys=keys,
        subscriptions=subscriptions,
        apis=apis,
        created=created,
        error=error,
    )


async def create_key(p: Page) -> Response:
    app_id = p.request.path_params["app_id"]
    body = {"name": p.form["name"]} if p.form.get("name") else {}
    if p.form.get("expires"):  # a date: the key expires at its start (UTC)
        body["expires_at"] = f"{p.form['expires']}T00:00:00Z"
    try:
        created = await p.api("POST", f"/apps/{q(app_id)}/keys", body=body)
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await app_page(p, error=err.message, status=err.status)
    return await app_page(p, created=created, status=201)  # the secret, shown this once


async def keys_page(p: Page) -> Response:
    """A reload or bookmark of the page a new key was shown on: the app's page (no secret)."""
    return redirect(f"{p.area.home}/apps/{q(p.request.path_params['app_id'])}", p.request)


async def rotate_key(p: Page) -> Response:
    created = await p.api("POST", f"/keys/{q(p.request.path_params['key_id'])}/rotate", body={})
    p.request.path_params["app_id"] = created["app_id"]
    return await app_page(p, created=created, status=201)


async def revoke_key(p: Page) -> Response:
    await p.api("DELETE", f"/keys/{q(p.request.path_params['key_id'])}")
    return redirect(f"{p.area.home}/apps/{q(p.form.get('app', ''))}", p.request)


# --- admin keys ------------------------------------------------------------------------------

ADMIN_ROLES = ("tenant-admin", "developer", "auditor", "platform-admin")


async def admin_keys(
    p: Page, *, created: Any = None, error: str | None = None, status: int = 200
) -> Response:
    keys = await p.data("/admin-keys")
    tenants_ = await p.data("/tenants")
    roles = ADMIN_ROLES if p.platform else ADMIN_ROLES[:3]
    return p.render(
        "console/admin_keys.html",
        status,
        keys=keys,
        tenants=tenants_,
        roles=roles,
        created=created,
        error=error,
    )


async def create_admin_key(p: Page) -> Response:
    tenant = p.caller.tenant or p.form.get("tenant") or None
    body = {"role": p.form.get("role", ""), "tenant": tenant}
    try:
        created = await p.api("POST", "/admin-keys", body=body)
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await admin_keys(p, error=err.message, status=err.status)
    return await admin_keys(p, created=created, status=201)  # the secret, shown this once


async def revoke_admin_key(p: Page) -> Response:
    await p.api("DELETE", f"/admin-keys/{q(p.request.path_params['key_id'])}")
    return redirect("/console/admin-keys", p.request)
