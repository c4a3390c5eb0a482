#!/usr/bin/env python3
"""A month of usage on the real PostgreSQL: load N records with COPY, roll them up, and time
``GET /admin/v1/usage`` for the month grouped by tenant and model (the query the API runs).

Everything lives in a schema of its own (``lockgate_bench_<random>``), migrated like a real
store and dropped at the end, whatever happens. The records: ``--tenants`` tenants with
``--apps`` apps each, two keys per app, eight models, each key calling two of them, spread
over November 2026 with a daily rhythm; about 10% of calls fail, 2% are rejected by a policy.

    .venv/bin/python bench/usage_pg.py [--rows 10000000] [--url postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg

MONTH = datetime(2026, 11, 1, tzinfo=UTC)
SECONDS = 30 * 86400
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-haiku", "claude-sonnet", "gemini-flash",
          "gemini-pro", "mistral-small", "llama-70b"]  # fmt: skip
COLUMNS = ("request_id", "ts", "tenant", "app_id", "app_name", "key_id", "ingress", "route",
           "model", "served_model", "deployment", "provider", "status", "error_type",
           "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "usage_source",
           "cost_picousd", "latency_ms", "ttft_ms", "upstream_ms", "overhead_ms", "attempts",
           "fallback", "cache_saved_tokens")  # fmt: skip


def keys(tenants: int, apps: int) -> list[tuple[str, str, str, tuple[str, str]]]:
    rng = random.Random(7)
    out = []
    for t in range(tenants):
        for a in range(apps):
            for k in range(2):
                models = tuple(rng.sample(MODELS, 2))
                out.append(
                    (f"tenant-{t:03d}", f"app_{t:03d}_{a:03d}", f"key_{t:03d}_{a:03d}_{k}", models)
                )
    return out  # type: ignore[return-value]


def load(conn: psycopg.Connection, rows: int, tenants: int, apps: int) -> float:
    rng = random.Random(11)
    pool = keys(tenants, apps)
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(pool))]  # a few heavy keys, a long tail
    began = time.perf_counter()
    names = ", ".join(COLUMNS)
    with conn.cursor() as cur, cur.copy(f"COPY usage_records ({names}) FROM STDIN") as copy:
        picks = rng.choices(pool, weights, k=rows)
        for n, (tenant, app, key, models) in enumerate(picks):
            ts = MONTH + timedelta(seconds=rng.random() * SECONDS)
            model = models[n & 1]
            roll = rng.random()
            status, error, source = 200, None, "provider"
            inp, out = rng.randint(20, 4000), rng.randint(5, 800)
            if roll < 0.02:
                status, error, source, inp, out = 429, "rate_limit_exceeded", None, 0, 0
            elif roll < 0.10:
                status, error, source, inp, out = 502, "upstream_error", None, 0, 0
            cost = inp * 150_000 + out * 600_000
            latency = rng.uniform(80, 4000)
            copy.write_row((
                f"req_{n:012x}", ts, tenant, app, "app", key, "openai", "chat", model, model,
                f"p/{model}", "openai", status, error, inp, out, 0, 0, source, cost,
                latency, latency * 0.2, latency - 0.4, 0.4, 1, False, 0,
            ))  # fmt: skip
    conn.commit()
    return time.perf_counter() - began


def roll_up(conn: psycopg.Connection) -> float:
    """The rollups the writer keeps, rebuilt for the loaded records in time order, as the
    writer adds them while the month goes by."""
    began = time.perf_counter()
    conn.execute(
        """
        INSERT INTO usage_hourly
        SELECT floor(extract(epoch FROM ts))::bigint
                 - floor(extract(epoch FROM ts))::bigint % 3600,
               coalesce(tenant, ''), coalesce(app_id, ''), coalesce(key_id, ''),
               coalesce(served_model, model, ''),
               count(*), count(*) FILTER (WHERE status >= 500),
               count(*) FILTER (WHERE usage_source = 'counted'),
               sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(reasoning_tokens),
               sum(cost_picousd)
        FROM usage_records GROUP BY 1, 2, 3, 4, 5 ORDER BY 1
        """
    )
    conn.execute(
        """
        INSERT INTO usage_daily
        SELECT hour - hour % 86400, tenant, app_id, key_id, model, sum(requests), sum(errors),
               sum(counted), sum(input_tokens), sum(output_tokens), sum(cached_tokens),
               sum(reasoning_tokens), sum(cost_picousd)
        FROM usage_hourly GROUP BY 1, 2, 3, 4, 5 ORDER BY 1
        """
    )
    conn.execute("ANALYZE usage_daily")
    conn.execute("ANALYZE usage_hourly")
    conn.execute("ANALYZE usage_records")
    conn.commit()
    return time.perf_counter() - began


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - began)
    return out


def main(argv: list[str]) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--rows", type=int, default=10_000_000)
    args.add_argument("--tenants", type=int, default=50)
    args.add_argument("--apps", type=int, default=10)
    args.add_argument("--runs", type=int, default=5)
    args.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    opts = args.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from lockgate.store import Store
    from lockgate.store.usage_query import UsageQuery, UsageReader
    from lockgate.store.usage_repo import UsageStore

    schema = f"lockgate_bench_{secrets.token_hex(4)}"
    admin = psycopg.connect(opts.url, autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{opts.url}?options={quote(f'-csearch_path={schema}')}"
    store = Store(url)
    try:
        store.migrate()
        UsageStore(store.engine).ensure_partitions({(2026, 11)})
        with psycopg.connect(url) as conn:
            loaded = load(conn, opts.rows, opts.tenants, opts.apps)
            rolled = roll_up(conn)
            size = conn.execute(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c"
                " WHERE c.relnamespace = %s::regnamespace",
                (schema,),
            ).fetchone()
            hourly = conn.execute("SELECT count(*) FROM usage_hourly").fetchone()
            days = conn.execute("SELECT count(*) FROM usage_daily").fetchone()
            raw_sql = (
                "SELECT tenant, coalesce(served_model, model), count(*), sum(input_tokens),"
                " sum(output_tokens), sum(cost_picousd) FROM usage_records"
                " WHERE ts >= %s AND ts < %s GROUP BY 1, 2"
            )
            scan = timed(
                lambda: conn.execute(raw_sql, (MONTH, MONTH + timedelta(days=30))).fetchall(), 2
            )
        reader = UsageReader(store.engine)
        month = UsageQuery(MONTH, MONTH + timedelta(days=30), ("tenant", "model"), limit=10_000)
        edges = UsageQuery(MONTH + timedelta(minutes=17), MONTH + timedelta(days=30, minutes=-17),
                           ("tenant", "model"), limit=10_000)  # fmt: skip
        hours = UsageQuery(MONTH, MONTH + timedelta(days=30), ("tenant", "model", "hour"),
                           limit=10_000_000)  # fmt: skip
        rows = reader.usage(month).rows
        assert sum(r["requests"] for r in rows) == opts.rows
        api = timed(lambda: reader.usage(month), opts.runs)
        partial = timed(lambda: reader.usage(edges), opts.runs)
        by_hour = timed(lambda: reader.usage(hours), 2)
        print(
            f"schema {schema}: {opts.rows:,} records loaded by COPY in {loaded:.1f} s, "
            f"rolled up in {rolled:.1f} s ({hourly[0]:,} hourly, {days[0]:,} daily rows); "  # type: ignore[index]
            f"{size[0]} on disk"
        )  # type: ignore[index]
        print(
            f"month grouped by tenant and model ({len(rows)} groups), from rollups: "
            f"median {statistics.median(api) * 1000:.0f} ms, runs {[round(x * 1000) for x in api]}"
        )
        print(
            f"same month, from/to 17 min off the hour (rollups + records at the edges): "
            f"median {statistics.median(partial) * 1000:.0f} ms"
        )
        print(
            f"same month grouped by tenant, model and hour (hourly rollups): "
            f"{[round(x * 1000) for x in by_hour]} ms"
        )
        print(
            f"same month scanned from the records (no rollups): "
            f"{[round(x * 1000) for x in scan]} ms"
        )
    finally:
        store.close()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
        print(f"schema {schema} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
