"""Usage charts, the request log, limits in use, deployments' health and the audit log.

Shared by the console and the portal (usage and requests); the admin API scopes each answer
to the signed-in key (a developer sees its own apps' calls only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from lockgate.store.audit_repo import Verdict

from . import charts
from .adminapi import AdminApiError
from .console import q, visible_apps
from .web import Page, choices

USAGE_DIMENSIONS = ("tenant", "app", "model")
USAGE_METRICS = {"requests": "Requests", "tokens": "Tokens", "cost": "Cost (USD)"}
REQUEST_FILTERS = ("tenant", "app", "model", "status", "from", "to")  # from/to: dates or times
MAX_LABELLED_TENANTS = 50  # past this many tenants, apps are shown by id (one call per tenant)


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
    query = {"limit": "100", "cursor": p.arg("cursor") or None, **filters}
    try:
        found = await p.api("GET", "/requests", query=query)
    except AdminApiError as err:
        if err.status != 400:
            raise
        return p.render(
            "requests.html", 400, rows=[], filters=filters, models=[], error=err.message
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
