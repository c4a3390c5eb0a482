"""Writing usage: a batch of records, their hourly rollups and opted-in payloads, in one
transaction.

A batch written again after a failed attempt (whose commit may in fact have been applied)
first drops the rows already stored, so a retry never counts a call twice in the rollups.
Rollup upserts are sorted by key, so concurrent writers (several workers or replicas) lock rows
in the same order and cannot deadlock. On PostgreSQL the monthly partitions a batch needs (and
the next month's) are created first, in their own short transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, text

PARTITION_LOCK = 0x4C47_5553  # advisory lock id serialising partition creation ("LGUS")
HOUR = 3600
DAY = 86400
ROLLUPS = (("usage_hourly", "hour"), ("usage_daily", "day"))
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


class UsageRow(NamedTuple):
    """One call, as stored in ``usage_records`` (field names and order are the columns'), so
    a row is its own parameter tuple for the batch insert."""

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
    cache_saved_tokens: int
    api: str | None = None  # the API product called, and its version
    api_version: int | None = None
    dropped_params: str | None = None  # comma-separated request fields not sent upstream
    cache_write_tokens: int = 0  # prompt tokens written to the provider's cache
    routing: str | None = None  # the routing steps, when not simply served by the first choice

    @property
    def billed_model(self) -> str | None:
        """The model a call is accounted to: the one that served it, else the one asked."""
        return self.served_model or self.model

    @property
    def failed(self) -> bool:
        return self.status >= 500


USAGE_COLUMNS: tuple[str, ...] = UsageRow._fields


class PayloadRow(NamedTuple):
    request_id: str
    ts: datetime
    tenant: str
    request: str
    response: str


def rollup_key(row: UsageRow) -> tuple[int, str, str, str, str]:
    hour = int(row.ts.timestamp()) // HOUR * HOUR
    return (hour, row.tenant or "", row.app_id or "", row.key_id or "", row.billed_model or "")


def rollups(rows: Iterable[UsageRow]) -> list[tuple[int | str, ...]]:
    """``usage_hourly`` rows (key columns, then ``ROLLUP_SUMS``) for a batch, sorted by key."""
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
    return [(*key, *sums[key]) for key in sorted(sums)]


def daily(hourly: Iterable[tuple[int | str, ...]]) -> list[tuple[int | str, ...]]:
    """The ``usage_daily`` rows of a batch, from its hourly ones."""
    sums: dict[tuple[int | str, ...], list[int]] = {}
    for row in hourly:
        hour = int(row[0])
        key = (hour - hour % DAY, *row[1:5])
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0] * len(ROLLUP_SUMS)
        for i, value in enumerate(row[5:]):
            acc[i] += int(value)
    return [(*key, *sums[key]) for key in sorted(sums)]


def _month(ts: datetime) -> tuple[int, int]:
    return ts.year, ts.month


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _sqlite_ts(ts: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text, so ORM reads and range filters see the same value."""
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")


class UsageStore:
    """The write side of the usage store (synchronous; the batch writer runs it in a thread).

    Rows go through the DB-API's ``executemany`` with one prepared statement: building and
    compiling an SQLAlchemy statement per batch costs more than the insert itself.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        mark = "%s" if self.postgres else "?"
        self._months: set[tuple[int, int]] = set()
        self._insert_rows = _insert_sql("usage_records", USAGE_COLUMNS, mark, "DO NOTHING")
        self._insert_payloads = _insert_sql(
            "usage_payloads", PayloadRow._fields, mark, "DO NOTHING"
        )
        self._upserts = [_upsert_sql(table, period, mark) for table, period in ROLLUPS]
        ids = "request_id = ANY(%s)" if self.postgres else "request_id IN ({})"
        self._existing = f"SELECT request_id FROM usage_records WHERE {ids}"

    def write(
        self, rows: Sequence[UsageRow], payloads: Sequence[PayloadRow] = (), *, retry: bool = False
    ) -> int:
        """Store a batch; returns how many records were new. ``retry``: some of these rows may
        already be stored (an earlier attempt committed but reported a failure)."""
        if not rows and not payloads:
            return 0
        if self.postgres:
            self.ensure_partitions({_month(r.ts) for r in rows} | {_month(p.ts) for p in payloads})
        with self.engine.begin() as conn:
            cur = conn.connection.cursor()
            try:
                if retry and rows:
                    stored = self._stored(cur, [r.request_id for r in rows])
                    rows = [r for r in rows if r.request_id not in stored]
                if rows:
                    cur.executemany(self._insert_rows, self._params(rows))
                    hourly = rollups(rows)
                    cur.executemany(self._upserts[0], hourly)
                    cur.executemany(self._upserts[1], daily(hourly))
                if payloads:
                    cur.executemany(self._insert_payloads, self._params(payloads))
            finally:
                cur.close()
        return len(rows)

    def _params(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if self.postgres:
            return list(rows)
        return [(r[0], _sqlite_ts(r[1]), *r[2:]) for r in rows]

    def _stored(self, cur: Any, ids: list[str]) -> set[str]:
        if self.postgres:
            cur.execute(self._existing, (ids,))
        else:
            cur.execute(self._existing.format(", ".join("?" * len(ids))), ids)
        return {rid for (rid,) in cur.fetchall()}

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


def _upsert_sql(table: str, period: str, mark: str) -> str:
    keys = (period, "tenant", "app_id", "key_id", "model")
    sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ROLLUP_SUMS)
    return _insert_sql(
        table, (*keys, *ROLLUP_SUMS), mark, f"({', '.join(keys)}) DO UPDATE SET {sums}"
    )


def _insert_sql(table: str, columns: Sequence[str], mark: str, conflict: str) -> str:
    names = ", ".join(columns)
    marks = ", ".join([mark] * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT {conflict}"


def partition_ddl(year: int, month: int) -> str:
    end_year, end_month = _next_month(year, month)
    return (
        f"CREATE TABLE IF NOT EXISTS usage_records_{year:04d}{month:02d} "
        "PARTITION OF usage_records FOR VALUES "
        f"FROM ('{year:04d}-{month:02d}-01 00:00:00+00') "
        f"TO ('{end_year:04d}-{end_month:02d}-01 00:00:00+00')"
    )
