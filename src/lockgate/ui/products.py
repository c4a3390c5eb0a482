"""``/console``: subscription approvals and API products with their lifecycle."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .adminapi import AdminApiError
from .console import q
from .web import Page, redirect

SUBSCRIPTION_ACTIONS = ("approve", "reject", "revoke")
LIFECYCLE_ACTIONS = ("publish", "deprecate", "retire")


async def subscriptions(p: Page, error: str | None = None, status: int = 200) -> Response:
    state = p.arg("status") or "pending"
    shown = "" if state == "all" else state
    rows = await p.data("/subscriptions", status=shown or None)
    return p.render("console/subscriptions.html", status, rows=rows, state=state, error=error)


async def decide(p: Page) -> Response:
    sub_id = p.request.path_params["sub_id"]
    action = p.request.path_params["action"]
    if action not in SUBSCRIPTION_ACTIONS:
        return p.render("not_found.html", 404, message="no such action")
    reason = p.form.get("reason") or None
    try:
        await p.api("POST", f"/subscriptions/{q(sub_id)}/{action}", body={"reason": reason})
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await subscriptions(p, err.message, err.status)
    back = p.form.get("back", "")
    return redirect(back if back.startswith("/console/") else "/console/subscriptions", p.request)


async def apis(p: Page, error: str | None = None, status: int = 200) -> Response:
    tenants_ = await p.data("/tenants")
    return p.render(
        "console/apis.html", status, apis=await p.data("/apis"), tenants=tenants_, error=error
    )


async def create_api(p: Page) -> Response:
    body: dict[str, Any] = {"name": p.form.get("name", ""), "subscription": "manual"}
    for field in ("tenant", "description"):
        if p.form.get(field):
            body[field] = p.form[field]
    if p.form.get("subscription") in ("auto", "manual"):
        body["subscription"] = p.form["subscription"]
    try:
        await p.api("POST", "/apis", body=body)
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await apis(p, err.message, err.status)
    return redirect(f"/console/apis/{q(body['name'])}", p.request)


async def api_page(p: Page, error: str | None = None, status: int = 200) -> Response:
    name = p.request.path_params["name"]
    api = await p.api("GET", f"/apis/{q(name)}")
    subs = await p.data("/subscriptions", api=name)
    return p.render("console/api.html", status, api=api, subscriptions=subs, error=error)


async def add_version(p: Page) -> Response:
    name = p.request.path_params["name"]
    body = {"model": p.form.get("model", ""), "template": p.form.get("template", "")}
    try:
        await p.api("POST", f"/apis/{q(name)}/versions", body=body)
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await api_page(p, err.message, err.status)
    return redirect(f"/console/apis/{q(name)}", p.request)


async def lifecycle(p: Page) -> Response:
    name = p.request.path_params["name"]
    version = p.request.path_params["version"]
    action = p.request.path_params["action"]
    if action not in LIFECYCLE_ACTIONS:
        return p.render("not_found.html", 404, message="no such action")
    body: dict[str, Any] = {}
    if action == "deprecate" and p.form.get("sunset"):
        body["sunset"] = p.form["sunset"]
    try:
        await p.api("POST", f"/apis/{q(name)}/versions/{q(version)}/{action}", body=body)
    except AdminApiError as err:
        if err.status == 404:
            raise
        return await api_page(p, err.message, err.status)
    return redirect(f"/console/apis/{q(name)}", p.request)
