"""Writing usage: a batch of records, their hourly rollups and opted-in payloads, in one
transaction.

The insert skips rows already stored (a retried batch whose commit was in fact applied) and
returns the rows it did insert; only those are added to the rollups, so a retry never counts
a call twice. Rollup upserts are sorted by key, so concurrent writers (several workers or
replicas) lock rows in the same order and cannot deadlock. On PostgreSQL the monthly partitions
a batch needs (and the next month's) are created first, in their own short transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .usage_tables import usage_hourly, usage_payloads, usage_records

PARTITION_LOCK = 0x4C47_5553  # advisory lock id serialising partition creation ("LGUS")
HOUR = 3600
ROLLUP_SUMS = (
    "requests",
    "errors",
    "counted",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_picousd",
)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One call, as stored in ``usage_records`` (field names are the column names)."""

    request_id: str
    ts: datetime  # UTC
    tenant: str | None
    app_id: str | None
    app_name: str | None
    key_id: str | None
    end_user: str | None
    ingress: str
    route: str
    model: str | None
    served_model: str | None
    deployment: str | None
    provider: str | None
    status: int
    error_type: str | None
    decided_by: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    usage_source: str | None
    cost_picousd: int
    latency_ms: float
    ttft_ms: float | None
    upstream_ms: float | None
    overhead_ms: float
    attempts: int
    fallback: bool
    cache: str | None

    @property
    def billed_model(self) -> str | None:
        """The model a call is accounted to: the one that served it, else the one asked."""
        return self.served_model or self.model

    @property
    def failed(self) -> bool:
        return self.status >= 500


USAGE_COLUMNS = tuple(f.name for f in fields(UsageRow))


@dataclass(frozen=True, slots=True)
class PayloadRow:
    request_id: str
    ts: datetime
    tenant: str
    request: str
    response: str


def rollup_key(row: UsageRow) -> tuple[int, str, str, str, str]:
    hour = int(row.ts.timestamp()) // HOUR * HOUR
    return (hour, row.tenant or "", row.app_id or "", row.key_id or "", row.billed_model or "")


def rollups(rows: Iterable[UsageRow]) -> list[dict[str, Any]]:
    sums: dict[tuple[int, str, str, str, str], list[int]] = {}
    for row in rows:
        key = rollup_key(row)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0] * len(ROLLUP_SUMS)
        acc[0] += 1
        acc[1] += row.failed
        acc[2] += row.usage_source == "counted"
        acc[3] += row.input_tokens
        acc[4] += row.output_tokens
        acc[5] += row.cached_tokens
        acc[6] += row.reasoning_tokens
        acc[7] += row.cost_picousd
    out = []
    for key in sorted(sums):
        hour, tenant, app_id, key_id, model = key
        item: dict[str, Any] = dict(
            hour=hour, tenant=tenant, app_id=app_id, key_id=key_id, model=model
        )
        item.update(zip(ROLLUP_SUMS, sums[key], strict=True))
        out.append(item)
    return out


def _insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _month(ts: datetime) -> tuple[int, int]:
    return ts.year, ts.month


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


class UsageStore:
    """The write side of the usage store (synchronous; the batch writer runs it in a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._months: set[tuple[int, int]] = set()

    def write(self, rows: Sequence[UsageRow], payloads: Sequence[PayloadRow] = ()) -> int:
        """Store a batch; returns how many records were new."""
        if not rows and not payloads:
            return 0
        if self.postgres:
            self.ensure_partitions({_month(r.ts) for r in rows} | {_month(p.ts) for p in payloads})
        with self.engine.begin() as conn:
            inserted = self._insert_rows(conn, rows)
            if inserted:
                stmt = _insert(conn, usage_hourly)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["hour", "tenant", "app_id", "key_id", "model"],
                    set_={c: usage_hourly.c[c] + stmt.excluded[c] for c in ROLLUP_SUMS},
                )
                conn.execute(stmt, rollups(inserted))
            if payloads:
                conn.execute(
                    _insert(conn, usage_payloads).on_conflict_do_nothing(),
                    [_values(p) for p in payloads],
                )
        return len(inserted)

    def _insert_rows(self, conn: Connection, rows: Sequence[UsageRow]) -> list[UsageRow]:
        if not rows:
            return []
        stmt = (
            _insert(conn, usage_records)
            .on_conflict_do_nothing()
            .returning(usage_records.c.request_id)
        )
        result = conn.execute(stmt, [_values(r) for r in rows])
        new = {rid for (rid,) in result.all()}
        if len(new) == len(rows):
            return list(rows)
        return [r for r in rows if r.request_id in new]

    def ensure_partitions(self, months: set[tuple[int, int]]) -> None:
        """Create the monthly partitions of ``usage_records`` these months need, and the next
        month's, so the month boundary never waits on DDL."""
        wanted = set(months)
        for year, month in months:
            wanted.add(_next_month(year, month))
        missing = sorted(wanted - self._months)
        if not missing:
            return
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
            for year, month in missing:
                conn.execute(text(partition_ddl(year, month)))
        self._months.update(missing)


def partition_ddl(year: int, month: int) -> str:
    end_year, end_month = _next_month(year, month)
    return (
        f"CREATE TABLE IF NOT EXISTS usage_records_{year:04d}{month:02d} "
        "PARTITION OF usage_records FOR VALUES "
        f"FROM ('{year:04d}-{month:02d}-01 00:00:00+00') "
        f"TO ('{end_year:04d}-{end_month:02d}-01 00:00:00+00')"
    )


def _values(row: UsageRow | PayloadRow) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(row)}
