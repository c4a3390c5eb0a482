"""Reading usage: totals grouped over a time range, and the request log.

Totals come from the hourly rollups for every whole hour of the range and from the raw records
for the partial hours at either end, merged in Python: exact for any range, and a month is
grouped from rollups (a few rows per hour per key and model), never from tens of millions of
records. The request log pages backwards through ``(ts, request_id)`` with a keyset cursor.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, Integer, and_, cast, func, or_, select, text
from sqlalchemy.sql.expression import literal

from .errors import ValidationError
from .usage_repo import HOUR, ROLLUP_SUMS, USAGE_COLUMNS
from .usage_tables import PICO, usage_daily, usage_hourly, usage_payloads, usage_records

GroupBy = Literal["tenant", "app", "key", "model", "day", "hour", "api"]
GROUP_BY: tuple[GroupBy, ...] = ("tenant", "app", "key", "model", "day", "hour", "api")
DAY = 86400
OUT_SUMS = ROLLUP_SUMS  # requests, errors, counted, tokens..., cost_picousd


@dataclass(frozen=True, slots=True)
class Filters:
    tenant: str | None = None
    app: str | None = None
    key: str | None = None
    model: str | None = None
    api: str | None = None  # an API product: read from the records (the rollups have no API)
    apps: tuple[str, ...] | None = None  # only these app ids (a developer's own apps)


@dataclass(frozen=True, slots=True)
class UsageQuery:
    start: datetime
    end: datetime
    group_by: tuple[GroupBy, ...] = ()
    filters: Filters = Filters()
    limit: int = 1000
    offset: int = 0


@dataclass(frozen=True, slots=True)
class RequestQuery:
    start: datetime | None = None
    end: datetime | None = None
    filters: Filters = Filters()
    status: str | None = None  # "429", "4xx", "5xx", "error" (>= 400)
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UsageReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    # --- totals --------------------------------------------------------------------------

    def usage(self, q: UsageQuery) -> Page:
        if q.end <= q.start:
            raise ValidationError("'to' must be after 'from'", field="to")
        groups: dict[tuple[Any, ...], list[int]] = {}
        with self.engine.connect() as conn:
            if self.postgres:
                # Just-in-time compilation costs more than it saves on these aggregates.
                conn.execute(text("SET LOCAL jit = off"))
            parts = plan(q.start, q.end, by_hour="hour" in q.group_by)
            if q.filters.api is not None or "api" in q.group_by:  # not in the rollups
                parts = [("raw", q.start.timestamp(), q.end.timestamp())]
            for source, lo, hi in parts:
                if source == "raw":
                    stmt = self._raw_sql(q, _dt(lo), _dt(hi))
                else:
                    stmt = self._rollup_sql(q, source, int(lo), int(hi))
                self._merge(groups, conn.execute(stmt).all(), q)
        keys = sorted(groups, key=_sort_key)
        page = keys[q.offset : q.offset + q.limit]
        rows = [_usage_row(q.group_by, k, groups[k]) for k in page]
        more = q.offset + q.limit < len(keys)
        return Page(rows, str(q.offset + q.limit) if more else None)

    @staticmethod
    def _merge(
        groups: dict[tuple[Any, ...], list[int]], result: Sequence[Any], q: UsageQuery
    ) -> None:
        n = len(q.group_by)
        for rec in result:
            key = tuple(rec[:n])
            acc = groups.setdefault(key, [0] * len(OUT_SUMS))
            for i, value in enumerate(rec[n:]):
                acc[i] += int(value or 0)

    def _rollup_sql(self, q: UsageQuery, source: str, lo: int, hi: int) -> Any:
        t = usage_hourly.c if source == "hour" else usage_daily.c
        period = t.hour if source == "hour" else t.day
        dims: dict[str, ColumnElement[Any]] = {
            "tenant": t.tenant,
            "app": t.app_id,
            "key": t.key_id,
            "model": t.model,
            "day": period - period % DAY,
            "hour": period,
        }
        cols = [dims[g].label(g) for g in q.group_by]
        sums = [func.sum(t[c]) for c in OUT_SUMS]
        where = [period >= lo, period < hi]
        f = q.filters
        for value, col in ((f.tenant, t.tenant), (f.app, t.app_id), (f.key, t.key_id)):
            if value is not None:
                where.append(col == value)
        if f.apps is not None:
            where.append(t.app_id.in_(f.apps))
        if f.model is not None:
            where.append(t.model == f.model)
        return select(*cols, *sums).where(*where).group_by(*(dims[g] for g in q.group_by))

    def _raw_epoch(self) -> ColumnElement[Any]:
        ts = usage_records.c.ts
        if self.postgres:
            return cast(func.floor(func.extract("epoch", ts)), Integer)
        return cast(func.strftime("%s", ts), Integer)

    def _raw_sql(self, q: UsageQuery, a: datetime, b: datetime) -> Any:
        r = usage_records.c
        epoch = self._raw_epoch()
        model = func.coalesce(r.served_model, r.model, "")
        dims: dict[str, ColumnElement[Any]] = {
            "tenant": func.coalesce(r.tenant, ""),
            "app": func.coalesce(r.app_id, ""),
            "key": func.coalesce(r.key_id, ""),
            "model": model,
            "day": epoch - epoch % DAY,
            "hour": epoch - epoch % HOUR,
            "api": func.coalesce(r.api, ""),
        }
        cols = [dims[g].label(g) for g in q.group_by]
        one = literal(1)
        zero = literal(0)
        sums = [
            func.count(),
            func.sum(func.coalesce(_case(r.status >= 500, one, zero), 0)),
            func.sum(_case(r.usage_source == "counted", one, zero)),
            func.sum(r.input_tokens),
            func.sum(r.output_tokens),
            func.sum(r.cached_tokens),
            func.sum(r.reasoning_tokens),
            func.sum(r.cost_picousd),
        ]
        where = [r.ts >= a, r.ts < b, *_raw_filters(q.filters)]
        return select(*cols, *sums).where(*where).group_by(*(dims[g] for g in q.group_by))

    # --- the request log -----------------------------------------------------------------

    def requests(self, q: RequestQuery) -> Page:
        r = usage_records.c
        where: list[ColumnElement[bool]] = list(_raw_filters(q.filters))
        if q.start is not None:
            where.append(r.ts >= q.start)
        if q.end is not None:
            where.append(r.ts < q.end)
        status = _status_filter(q.status)
        if status is not None:
            where.append(status)
        if q.cursor:
            ts, rid = _decode_cursor(q.cursor)
            where.append(or_(r.ts < ts, and_(r.ts == ts, r.request_id < rid)))
        stmt = (
            select(*(r[c] for c in USAGE_COLUMNS))
            .where(*where)
            .order_by(r.ts.desc(), r.request_id.desc())
            .limit(q.limit + 1)
        )
        with self.engine.connect() as conn:
            found = conn.execute(stmt).all()
        more = len(found) > q.limit
        rows = [request_row(rec._mapping) for rec in found[: q.limit]]
        cursor = None
        if more:
            last = found[q.limit - 1]._mapping
            cursor = _encode_cursor(_utc(last["ts"]), last["request_id"])
        return Page(rows, cursor)

    def request(self, request_id: str, tenant: str | None = None) -> dict[str, Any] | None:
        """One call with its stored payload (if its tenant opted in); ``tenant`` scopes it."""
        r = usage_records.c
        where = [r.request_id == request_id]
        if tenant is not None:
            where.append(r.tenant == tenant)
        with self.engine.connect() as conn:
            rec = conn.execute(select(*(r[c] for c in USAGE_COLUMNS)).where(*where)).first()
            if rec is None:
                return None
            p = usage_payloads.c
            payload = conn.execute(
                select(p.request, p.response).where(p.request_id == request_id)
            ).first()
        out = request_row(rec._mapping)
        if payload is not None:
            out["payload"] = {"request": payload.request, "response": payload.response}
        return out


def plan(start: datetime, end: datetime, *, by_hour: bool) -> list[tuple[str, float, float]]:
    """Where each part of ``[start, end)`` is read from: (``raw`` | ``hour`` | ``day``, from,
    to) in epoch seconds. Whole days from the daily rollup (unless grouped by hour), whole
    hours around them from the hourly one, the partial hours at the ends from the records."""
    a = start.astimezone(UTC).timestamp()
    b = end.astimezone(UTC).timestamp()
    h0, h1 = int(-(-a // HOUR) * HOUR), int(b // HOUR * HOUR)
    if h0 >= h1:
        return [("raw", a, b)] if a < b else []
    parts: list[tuple[str, float, float]] = []
    if a < h0:
        parts.append(("raw", a, h0))
    d0, d1 = -(-h0 // DAY) * DAY, h1 // DAY * DAY
    if by_hour or d0 >= d1:
        parts.append(("hour", h0, h1))
    else:
        if h0 < d0:
            parts.append(("hour", h0, d0))
        parts.append(("day", d0, d1))
        if d1 < h1:
            parts.append(("hour", d1, h1))
    if h1 < b:
        parts.append(("raw", h1, b))
    return parts


def _case(cond: ColumnElement[bool], yes: Any, no: Any) -> ColumnElement[Any]:
    from sqlalchemy import case

    return case((cond, yes), else_=no)


def _raw_filters(f: Filters) -> list[ColumnElement[bool]]:
    r = usage_records.c
    where: list[ColumnElement[bool]] = []
    if f.tenant is not None:
        where.append(r.tenant == f.tenant)
    if f.app is not None:
        where.append(r.app_id == f.app)
    if f.apps is not None:
        where.append(r.app_id.in_(f.apps))
    if f.key is not None:
        where.append(r.key_id == f.key)
    if f.model is not None:
        where.append(func.coalesce(r.served_model, r.model) == f.model)
    if f.api is not None:
        where.append(r.api == f.api)
    return where


def _status_filter(status: str | None) -> ColumnElement[bool] | None:
    s = usage_records.c.status
    if status is None or status == "":
        return None
    if status == "error":
        return s >= 400
    if len(status) == 3 and status[0] in "12345" and status[1:] == "xx":
        low = int(status[0]) * 100
        return and_(s >= low, s < low + 100)
    if status.isdigit():
        return s == int(status)
    raise ValidationError(
        "status must be a code (429), a class (4xx, 5xx) or 'error'", field="status"
    )


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _encode_cursor(ts: datetime, request_id: str) -> str:
    raw = f"{ts.isoformat()}|{request_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, rid = raw.split("|", 1)
        return datetime.fromisoformat(ts), rid
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("cursor is not one this API returned", field="cursor") from None


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple("" if v is None else v for v in key)


def _usage_row(
    group_by: tuple[GroupBy, ...], key: tuple[Any, ...], acc: list[int]
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, value in zip(group_by, key, strict=True):
        if name == "day":
            row["day"] = _iso(int(value))[:10]
        elif name == "hour":
            row["hour"] = _iso(int(value))
        else:
            row[name] = value or None
    sums = dict(zip(OUT_SUMS, acc, strict=True))
    row.update(
        requests=sums["requests"],
        errors=sums["errors"],
        input_tokens=sums["input_tokens"],
        output_tokens=sums["output_tokens"],
        cached_tokens=sums["cached_tokens"],
        reasoning_tokens=sums["reasoning_tokens"],
        counted_requests=sums["counted"],
        cost=sums["cost_picousd"] / PICO,
    )
    return row


def request_row(m: Any) -> dict[str, Any]:
    """A stored record as the API shows it."""
    ts = _utc(m["ts"])
    return {
        "id": m["request_id"],
        "time": ts.isoformat().replace("+00:00", "Z"),
        "tenant": m["tenant"],
        "app": m["app_id"],
        "app_name": m["app_name"],
        "key": m["key_id"],
        "user": m["end_user"],
        "ingress": m["ingress"],
        "route": m["route"],
        "model": m["model"],
        "served_model": m["served_model"],
        "deployment": m["deployment"],
        "provider": m["provider"],
        "status": m["status"],
        "error_type": m["error_type"],
        "decided_by": m["decided_by"],
        "input_tokens": m["input_tokens"],
        "output_tokens": m["output_tokens"],
        "cached_tokens": m["cached_tokens"],
        "reasoning_tokens": m["reasoning_tokens"],
        "usage_source": m["usage_source"],
        "cost": m["cost_picousd"] / PICO,
        "latency_ms": m["latency_ms"],
        "ttft_ms": m["ttft_ms"],
        "upstream_ms": m["upstream_ms"],
        "overhead_ms": m["overhead_ms"],
        "attempts": m["attempts"],
        "fallback": bool(m["fallback"]),
        "cache": m["cache"],
        "cache_saved_tokens": m["cache_saved_tokens"],
        "api": m["api"],
        "api_version": m["api_version"],
        "dropped_params": m["dropped_params"].split(",") if m["dropped_params"] else [],
        "cache_write_tokens": m["cache_write_tokens"],
        "routing": m["routing"],
    }
