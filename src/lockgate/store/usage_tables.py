"""Tables of the accounting store: usage records, hourly rollups, payloads and the audit log.

Core tables on the identity ``Base.metadata`` (so the migration check covers them); migration
``0003`` owns the DDL. On PostgreSQL ``usage_records`` is partitioned by month on ``ts`` and its
partitions are created by the writer as months arrive; on SQLite it is one table.

Money is an integer of pico-USD (1e-12 USD): sums are exact, a price per 1M tokens with up to
six decimals is an exact number of pico-USD per token, and no float rounding drifts a total.
``usage_hourly.hour`` and ``usage_daily.day`` are epoch seconds (UTC, aligned), so day and hour
buckets are the same integer arithmetic on both databases. The daily rollup answers long
ranges not grouped by hour: a month is ~30 rows per key and model.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from .schema import Base

PICO = 10**12  # pico-USD per USD
TS = DateTime(timezone=True)

usage_records = Table(
    "usage_records",
    Base.metadata,
    Column("request_id", String(40), nullable=False),
    Column("ts", TS, nullable=False),
    Column("tenant", String(64)),
    Column("app_id", String(32)),
    Column("app_name", String(64)),
    Column("key_id", String(32)),
    Column("end_user", String(256)),
    Column("ingress", String(16), nullable=False),
    Column("route", String(16), nullable=False),
    Column("model", String(128)),
    Column("served_model", String(128)),
    Column("deployment", String(256)),
    Column("provider", String(32)),
    Column("status", Integer, nullable=False),
    Column("error_type", String(64)),
    Column("decided_by", String(64)),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("usage_source", String(8)),  # provider | counted | None (no usage)
    Column("cost_picousd", BigInteger, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float),
    Column("upstream_ms", Float),
    Column("overhead_ms", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("fallback", Boolean, nullable=False),
    Column("cache", String(8)),
    Column("cache_saved_tokens", BigInteger, nullable=False),  # tokens a cache hit saved
    Column("api", String(64)),  # the API product called (migration 0004)
    Column("api_version", Integer),
    # Request fields the serving provider did not get, comma-separated (migration 0005).
    Column("dropped_params", String(512)),
    # Prompt tokens written to the provider's cache (priced at cache_write; migration 0005).
    Column("cache_write_tokens", BigInteger, nullable=False, server_default="0"),
    # Why the request went where it went, when not simply to its first choice (migration 0006).
    Column("routing", String(1024)),
    PrimaryKeyConstraint("request_id", "ts", name="pk_usage_records"),
    Index("ix_usage_records_ts", "ts"),
    Index("ix_usage_records_tenant_ts", "tenant", "ts"),
    Index("ix_usage_records_api_ts", "api", "ts"),
)

usage_hourly = Table(
    "usage_hourly",
    Base.metadata,
    Column("hour", BigInteger, nullable=False),
    # '' rather than NULL for "none" (unauthenticated calls, calls without a model): these
    # columns form the primary key.
    Column("tenant", String(64), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("model", String(128), nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("counted", BigInteger, nullable=False),  # calls whose usage Lockgate counted
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cost_picousd", BigInteger, nullable=False),
    PrimaryKeyConstraint("hour", "tenant", "app_id", "key_id", "model", name="pk_usage_hourly"),
    Index("ix_usage_hourly_tenant_hour", "tenant", "hour"),
)

usage_daily = Table(
    "usage_daily",
    Base.metadata,
    Column("day", BigInteger, nullable=False),  # epoch seconds of 00:00 UTC
    Column("tenant", String(64), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("model", String(128), nullable=False),
    *(
        Column(name, BigInteger, nullable=False)
        for name in (
            "requests",
            "errors",
            "counted",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "reasoning_tokens",
            "cost_picousd",
        )
    ),
    PrimaryKeyConstraint("day", "tenant", "app_id", "key_id", "model", name="pk_usage_daily"),
)

usage_payloads = Table(
    "usage_payloads",
    Base.metadata,
    Column("request_id", String(40), primary_key=True),
    Column("ts", TS, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("request", Text, nullable=False),
    Column("response", Text, nullable=False),
    Index("ix_usage_payloads_tenant_ts", "tenant", "ts"),
)

audit_log = Table(
    "audit_log",
    Base.metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", TS, nullable=False),
    Column("actor_type", String(16), nullable=False),  # admin | policy
    Column("actor", String(128), nullable=False),
    Column("role", String(32)),
    Column("tenant", String(64)),
    Column("action", String(64), nullable=False),
    Column("target", String(512)),
    Column("status", Integer),
    Column("request_id", String(40)),
    # JSON kept as the exact text that was hashed: a database that re-formats JSON would
    # otherwise break the chain.
    Column("before", Text),
    Column("after", Text),
    Column("details", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_ts", "ts"),
    Index("ix_audit_log_tenant_seq", "tenant", "seq"),
)

audit_head = Table(
    "audit_head",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
