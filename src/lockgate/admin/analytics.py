"""``/usage``, ``/requests`` and ``/audit``: who spent what, on which model, when, what failed,
and what admins and policies did (SPEC section 3).

Tenant-scoped admin keys see their tenant only: without a ``tenant`` filter they get their own,
and naming another tenant answers 404, as for any object outside their scope. ``developer``
keys may read usage and requests of their tenant but not the audit log. JSON by default; CSV
with ``format=csv`` or ``Accept: text/csv``.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from lockgate.errors import InvalidRequest, NotFound, PermissionDenied
from lockgate.identity.principal import AdminPrincipal
from lockgate.observability.service import Analytics
from lockgate.store.audit_repo import AuditFilters
from lockgate.store.usage_query import GROUP_BY, Filters, GroupBy, RequestQuery, UsageQuery

from . import access
from .context import AdminContext, Caller, Ctx
from .openapi import errors

DEFAULT_DAYS = 30
CSV = "text/csv; charset=utf-8"


class Rows(BaseModel):
    rows: list[dict[str, Any]]
    next_cursor: str | None = None


def get_analytics(request: Request) -> Analytics:
    analytics = request.app.state.lockgate_analytics
    assert isinstance(analytics, Analytics)
    return analytics


Data = Annotated[Analytics, Depends(get_analytics)]
From = Annotated[
    str | None, Query(alias="from", description="ISO 8601 time or date, or epoch seconds")
]
To = Annotated[str | None, Query(description="ISO 8601 time or date, or epoch seconds")]
Format = Annotated[str | None, Query(pattern="^(json|csv)$", description="json (default) or csv")]


def parse_time(value: str | None, param: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"{param}: not a time (use ISO 8601, e.g. 2026-11-01T00:00:00Z, or epoch seconds)",
            param=param,
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def scoped_tenant(caller: AdminPrincipal, tenant: str | None) -> str | None:
    """The tenant a query is limited to: the caller's own when it is tenant-scoped."""
    if caller.tenant is None:
        return tenant or None
    if tenant and tenant != caller.tenant:
        raise NotFound(f"tenant {tenant!r} not found")
    return caller.tenant


async def scoped_filters(
    ctx: AdminContext,
    caller: AdminPrincipal,
    tenant: str | None,
    app: str | None,
    key: str | None,
    model: str | None,
    api: str | None,
) -> Filters:
    """The filters a caller may use: its tenant's data, and a developer only its own apps'
    (another app is 404, as if it did not exist)."""
    scoped = scoped_tenant(caller, tenant)
    if caller.role != "developer" or scoped is None:
        return Filters(scoped, app, key, model, api)
    apps = await ctx.call(ctx.store.list_apps, scoped)
    owned = tuple(a.id for a in apps if access.owns_app(caller, a.tenant, a.created_by))
    if app is not None and app not in owned:
        raise NotFound(f"app {app!r} not found")
    return Filters(scoped, app, key, model, api, apps=owned)


def parse_group_by(value: str) -> tuple[GroupBy, ...]:
    out: list[GroupBy] = []
    for name in (p.strip() for p in value.split(",")):
        if not name:
            continue
        if name not in GROUP_BY:
            raise InvalidRequest(
                f"group_by: unknown field {name!r} (use {', '.join(GROUP_BY)})", param="group_by"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def _plain(value: Any) -> Any:
    """Floats in positional notation (0.00003, not 3e-05): spreadsheets and eyes prefer it."""
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return value


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: _plain(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


MAX_CURSOR = 2**62  # cursors are positions in a table: a database integer holds them


def respond(
    request: Request, fmt: str | None, rows: list[dict[str, Any]], cursor: str | None
) -> Any:
    wants_csv = fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))
    if not wants_csv:
        return Rows(rows=rows, next_cursor=cursor)
    headers = {"x-next-cursor": cursor} if cursor else {}
    return Response(to_csv(rows), media_type=CSV, headers=headers)


def add_analytics_routes(router: APIRouter) -> None:
    csv_too: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
    query_errors = {**csv_too, **errors(400, 401, 404)}

    @router.get("/usage", response_model=Rows, responses=query_errors)
    async def usage(
        request: Request,
        data: Data,
        ctx: Ctx,
        caller: Caller,
        from_: From = None,
        to: To = None,
        group_by: str = "",
        tenant: str | None = None,
        app: str | None = None,
        key: str | None = None,
        model: str | None = None,
        api: Annotated[str | None, Query(description="An API product's name.")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        cursor: str | None = None,
        format: Format = None,
    ) -> Any:
        """Requests, tokens and cost (USD) over a time range, grouped by any of tenant, app,
        key, model, day, hour and api; every call counts, streamed ones included."""
        end = parse_time(to, "to") or datetime.now(UTC)
        start = parse_time(from_, "from") or end - timedelta(days=DEFAULT_DAYS)
        try:
            offset = int(cursor) if cursor else 0
        except ValueError:
            offset = -1
        if not 0 <= offset <= MAX_CURSOR:
            raise InvalidRequest("cursor is not one this API returned", param="cursor")
        query = UsageQuery(
            start=start,
            end=end,
            group_by=parse_group_by(group_by),
            filters=await scoped_filters(ctx, caller, tenant, app, key, model, api),
            limit=limit,
            offset=max(0, offset),
        )
        page = await asyncio.to_thread(data.usage.usage, query)
        return respond(request, format, page.rows, page.next_cursor)

    @router.get("/requests", response_model=Rows, responses=query_errors)
    async def requests(
        request: Request,
        data: Data,
        ctx: Ctx,
        caller: Caller,
        from_: From = None,
        to: To = None,
        tenant: str | None = None,
        app: str | None = None,
        key: str | None = None,
        model: str | None = None,
        api: Annotated[str | None, Query(description="An API product's name.")] = None,
        status: Annotated[str | None, Query(description="429, 4xx, 5xx or error")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
        format: Format = None,
    ) -> Any:
        """One row per call, newest first: principal, model asked and served, deployment,
        status, tokens, cost, latency, time to first token, cache and policy outcome."""
        query = RequestQuery(
            start=parse_time(from_, "from"),
            end=parse_time(to, "to"),
            filters=await scoped_filters(ctx, caller, tenant, app, key, model, api),
            status=status,
            limit=limit,
            cursor=cursor,
        )
        page = await asyncio.to_thread(data.usage.requests, query)
        return respond(request, format, page.rows, page.next_cursor)

    @router.get("/requests/{request_id}", responses=errors(401, 404))
    async def request_detail(
        request_id: str, data: Data, ctx: Ctx, caller: Caller
    ) -> dict[str, Any]:
        """One call, with its payload when its tenant opted in to payload storage."""
        found = await asyncio.to_thread(data.usage.request, request_id, caller.tenant)
        if found is not None and caller.role == "developer":
            mine = await scoped_filters(ctx, caller, None, None, None, None, None)
            if found.get("app") not in (mine.apps or ()):
                found = None
        if found is None:
            raise NotFound(f"request {request_id!r} not found")
        return found

    @router.get("/audit", response_model=Rows, responses={**query_errors, **errors(403)})
    async def audit(
        request: Request,
        data: Data,
        caller: Caller,
        from_: From = None,
        to: To = None,
        tenant: str | None = None,
        actor: str | None = None,
        actor_type: Annotated[str | None, Query(pattern="^(admin|policy)$")] = None,
        action: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[int | None, Query(ge=1, le=MAX_CURSOR)] = None,
        format: Format = None,
    ) -> Any:
        """Admin actions (who, what, before, after, when) and policy denials, newest first."""
        if caller.role == "developer":
            raise PermissionDenied("developer admin keys cannot read the audit log")
        filters = AuditFilters(
            tenant=scoped_tenant(caller, tenant),
            actor=actor,
            actor_type=actor_type,
            action=action,
            start=parse_time(from_, "from"),
            end=parse_time(to, "to"),
            limit=limit,
            before_seq=cursor,
        )
        rows, after = await asyncio.to_thread(data.audit.list, filters)
        return respond(request, format, rows, str(after) if after is not None else None)
