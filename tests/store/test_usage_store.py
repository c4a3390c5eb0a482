"""The usage store on SQLite and PostgreSQL: batches, rollups, partitions, queries, paging."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lockgate.store import Store, ValidationError
from lockgate.store.usage_query import Filters, RequestQuery, UsageQuery, UsageReader, plan
from lockgate.store.usage_repo import PayloadRow, UsageRow, UsageStore

T0 = datetime(2026, 10, 31, 22, 30, tzinfo=UTC)  # the batch spans a month boundary


@pytest.fixture(autouse=True)
def _empty(request: pytest.FixtureRequest) -> None:
    """Other tests sharing the PostgreSQL schema may have recorded calls: start empty."""
    if "store" not in request.fixturenames and "pg_store" not in request.fixturenames:
        return
    store: Store = request.getfixturevalue(
        "store" if "store" in request.fixturenames else "pg_store"
    )
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(
                sa.text("TRUNCATE usage_records, usage_hourly, usage_daily, usage_payloads")
            )


def row(n: int, **kw: object) -> UsageRow:
    base = UsageRow(
        request_id=f"req_{n:04d}",
        ts=T0 + timedelta(minutes=10 * n),
        tenant="acme" if n % 2 else "globex",
        app_id="app_1",
        app_name="bot",
        key_id="key_1",
        end_user=None,
        ingress="openai",
        route="chat",
        model="m",
        served_model="m",
        deployment="demo/x",
        provider="mock",
        status=200,
        error_type=None,
        decided_by=None,
        input_tokens=10 + n,
        output_tokens=5,
        cached_tokens=0,
        reasoning_tokens=0,
        usage_source="provider",
        cost_picousd=1_000_000 * (n + 1),
        latency_ms=12.5,
        ttft_ms=3.0,
        upstream_ms=11.0,
        overhead_ms=1.5,
        attempts=1,
        fallback=False,
        cache=None,
        cache_saved_tokens=0,
    )
    return base._replace(**kw)


def test_batches_roll_up_exactly_and_retries_do_not_double_count(store: Store) -> None:
    writer, reader = UsageStore(store.engine), UsageReader(store.engine)
    rows = [row(n) for n in range(20)]
    rows[3] = rows[3]._replace(status=502, usage_source=None, input_tokens=0, output_tokens=0)
    assert writer.write(rows[:12]) == 12
    assert writer.write(rows, retry=True) == 8  # a retried batch: only new rows count
    q = UsageQuery(T0 - timedelta(hours=1), T0 + timedelta(days=1), ("tenant",))
    got = {r["tenant"]: r for r in reader.usage(q).rows}
    for tenant, parity in (("acme", 1), ("globex", 0)):
        mine = [r for r in rows if r.request_id and int(r.request_id[4:]) % 2 == parity]
        assert got[tenant]["requests"] == len(mine)
        assert got[tenant]["input_tokens"] == sum(r.input_tokens for r in mine)
        assert got[tenant]["cost"] == sum(r.cost_picousd for r in mine) / 10**12
    assert got["acme"]["errors"] == 1
    by_day = reader.usage(replace(q, group_by=("day",))).rows
    assert [d["day"] for d in by_day] == ["2026-10-31", "2026-11-01"]
    assert sum(d["requests"] for d in by_day) == 20


def test_postgres_partitions_are_made_by_month(pg_store: Store) -> None:
    UsageStore(pg_store.engine).write([row(0), row(20)])  # October and November
    with pg_store.engine.connect() as conn:
        names = conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'usage_records'"
                " AND p.relnamespace = current_schema()::regnamespace"
            )
        ).scalars()
        assert {"usage_records_202610", "usage_records_202611", "usage_records_202612"} <= set(
            names
        )


def test_request_log_filters_and_pages(store: Store) -> None:
    writer, reader = UsageStore(store.engine), UsageReader(store.engine)
    rows = [row(n, status=429 if n % 5 == 0 else 200) for n in range(12)]
    payload = PayloadRow(rows[1].request_id, rows[1].ts, "acme", '{"q":1}', "answer")
    writer.write(rows, [payload])
    page = reader.requests(RequestQuery(limit=5))
    assert [r["id"] for r in page.rows] == [f"req_{n:04d}" for n in range(11, 6, -1)]
    rest = reader.requests(RequestQuery(limit=50, cursor=page.next_cursor))
    assert len(rest.rows) == 7 and rest.next_cursor is None
    limited = reader.requests(RequestQuery(status="4xx", filters=Filters(tenant="globex")))
    assert [r["id"] for r in limited.rows] == ["req_0010", "req_0000"]
    one = reader.request("req_0001")
    assert one is not None and one["payload"] == {"request": '{"q":1}', "response": "answer"}
    assert reader.request("req_0001", tenant="globex") is None
    with pytest.raises(ValidationError):
        reader.requests(RequestQuery(status="teapot"))
    with pytest.raises(ValidationError):
        reader.requests(RequestQuery(cursor="!!"))


def test_ranges_are_split_into_days_hours_and_record_edges() -> None:
    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=UTC)

    def epoch(dt: datetime) -> int:
        return int(dt.timestamp())

    got = plan(at(1, 22, 30), at(4, 1, 15), by_hour=False)
    assert got == [
        ("raw", epoch(at(1, 22, 30)), epoch(at(1, 23))),
        ("hour", epoch(at(1, 23)), epoch(at(2, 0))),
        ("day", epoch(at(2, 0)), epoch(at(4, 0))),
        ("hour", epoch(at(4, 0)), epoch(at(4, 1))),
        ("raw", epoch(at(4, 1)), epoch(at(4, 1, 15))),
    ]
    assert plan(at(1, 22, 30), at(4, 1, 15), by_hour=True)[1] == (
        "hour",
        epoch(at(1, 23)),
        epoch(at(4, 1)),
    )
    assert plan(at(1, 5, 10), at(1, 5, 50), by_hour=False) == [
        ("raw", epoch(at(1, 5, 10)), epoch(at(1, 5, 50)))
    ]
    assert plan(at(2, 0), at(3, 0), by_hour=False) == [("day", epoch(at(2, 0)), epoch(at(3, 0)))]
