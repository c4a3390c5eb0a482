"""``/console``: tenants, apps and keys; subscriptions; API products; usage; requests; limits;
deployments; audit. Every read and change goes through the admin API (``adminapi``), so a
tenant-admin sees its tenant only and another tenant's page is the admin API's 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import Response

from lockgate.store.audit_repo import Verdict

from . import charts
from .adminapi import AdminApiError
from .web import Page, choices, redirect

SUBSCRIPTION_ACTIONS = ("approve", "reject", "revoke")
LIFECYCLE_ACTIONS = ("publish", "deprecate", "retire")
USAGE_DIMENSIONS = ("tenant", "app", "model")
USAGE_METRICS = {"requests": "Requests", "tokens": "Tokens", "cost": "Cost (USD)"}
REQUEST_FILTERS = ("tenant", "app", "model", "status")


def q(value: str) -> str:
    return quote(value, safe="")


# --- tenants, apps, keys ---------------------------------------------------------------------


async def overview(p: Page) -> Response:
    rows = await _usage_rows(p, "tenant", days=14)
    chart = charts.build(rows, "day", "tenant", "requests", "Requests per day by tenant")
    pending = await p.data("/subscriptions", status="pending")
    deployments = await p.data("/deployments")
    unhealthy = [d for d in deployments if not d.get("available", True)]
    return p.render(
        "console/overview.html",
        chart=charts.svg(chart),
        pending=len(pending),
        deployments=len(deployments),
        unhealthy=len(unhealthy),
    )


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


# --- subscriptions and API products ------------------------------------------------------------


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


# --- analytics and operations -------------------------------------------------------------


def _bucket(days: int) -> str:
    return "hour" if days <= 1 else "day"


async def _usage_rows(p: Page, dimension: str, days: int) -> list[dict[str, Any]]:
    end = datetime.now(UTC)
    start = end - timedelta(days=days)
    if days > 1:
        start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    found = await p.api(
        "GET",
        "/usage",
        query={
            "from": start.isoformat(),
            "to": end.isoformat(),
            "group_by": f"{_bucket(days)},{dimension}",
            "limit": "10000",
        },
    )
    rows: list[dict[str, Any]] = found["rows"]
    for r in rows:
        r["tokens"] = (r.get("input_tokens") or 0) + (r.get("output_tokens") or 0)
    return rows


def _days(p: Page) -> int:
    text = p.arg("days")
    return int(text) if text in ("1", "7", "14", "30", "90") else 14


MAX_LABELLED_TENANTS = 50  # past this many tenants, apps are shown by id (one call per tenant)


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


async def usage(p: Page) -> Response:
    default = "app" if p.area.name == "portal" else "tenant"
    dimension = p.arg("by") if p.arg("by") in USAGE_DIMENSIONS else default
    days = _days(p)
    rows = await _usage_rows(p, dimension, days)
    if dimension == "app":  # label apps "tenant/name" rather than by id
        apps = await visible_apps(p, MAX_LABELLED_TENANTS)
        names = {a["id"]: f"{a['tenant']}/{a['name']}" for a in apps}
        for r in rows:
            r["app"] = names.get(r.get("app"), r.get("app"))
    bucket = _bucket(days)
    figures = [
        charts.svg(
            charts.build(rows, bucket, dimension, metric, f"{label} per {bucket} by {dimension}")
        )
        for metric, label in USAGE_METRICS.items()
    ]
    totals = _totals(rows, dimension)
    return p.render(
        "usage.html",
        figures=list(zip(USAGE_METRICS.values(), figures, strict=True)),
        dimension=dimension,
        dimensions=USAGE_DIMENSIONS,
        days=days,
        bucket=bucket,
        totals=totals,
    )


def _totals(rows: list[dict[str, Any]], dimension: str) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        name = str(r.get(dimension) or "(none)")
        t = out.setdefault(name, {"name": name, "requests": 0, "tokens": 0, "cost": 0.0})
        t["requests"] += r.get("requests") or 0
        t["tokens"] += r.get("tokens") or 0
        t["cost"] += r.get("cost") or 0.0
    return sorted(out.values(), key=lambda t: -t["requests"])


async def requests(p: Page) -> Response:
    filters = {f: p.arg(f) or None for f in REQUEST_FILTERS}
    found = await p.api(
        "GET", "/requests", query={"limit": "100", "cursor": p.arg("cursor") or None, **filters}
    )
    rows: list[dict[str, Any]] = found["rows"]
    older = None
    if found.get("next_cursor"):
        older = urlencode(
            {**{k: v for k, v in filters.items() if v}, "cursor": found["next_cursor"]}
        )
    return p.render(
        "requests.html",
        rows=rows,
        filters=filters,
        models=choices(rows, "model"),
        older=older,
    )


async def request_detail(p: Page) -> Response:
    found = await p.api("GET", f"/requests/{q(p.request.path_params['request_id'])}")
    return p.render("request.html", row=found)


async def limits(p: Page) -> Response:
    subject = {f: p.arg(f) or None for f in ("tenant", "app", "key")}
    report: Any = None
    error = None
    if any(subject.values()):
        try:
            report = await p.api("GET", "/limits", query=subject)
        except AdminApiError as err:
            if err.status == 404:
                raise
            error = err.message
    tenants_ = await p.data("/tenants")
    return p.render(
        "console/limits.html", report=report, subject=subject, tenants=tenants_, error=error
    )


async def deployments(p: Page) -> Response:
    return p.render("console/deployments.html", rows=await p.data("/deployments"))


def audit_endpoint(
    verify: Callable[[], Awaitable[Verdict]],
) -> Callable[[Page], Awaitable[Response]]:
    async def audit(p: Page) -> Response:
        filters = {f: p.arg(f) or None for f in ("actor", "action")}
        rows = await p.data("/audit", limit="100", **filters)
        # The chain spans every tenant: only a platform-wide key may check the whole of it.
        # Checking reads every row, so it runs when asked for, not on every view.
        may_verify = p.caller.tenant is None
        verdict = await verify() if may_verify and p.arg("verify") == "1" else None
        return p.render(
            "console/audit.html",
            rows=rows,
            verdict=verdict,
            may_verify=may_verify,
            filters=filters,
        )

    return audit


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
