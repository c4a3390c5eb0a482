"""Accounting: usage_records (monthly partitions on PostgreSQL), hourly and daily rollups,
usage_payloads, and the hash-chained, append-only audit_log with its audit_head.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
GENESIS = "0" * 64
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

_PG_USAGE_RECORDS = """
CREATE TABLE usage_records (
    request_id varchar(40) NOT NULL,
    ts timestamptz NOT NULL,
    tenant varchar(64),
    app_id varchar(32),
    app_name varchar(64),
    key_id varchar(32),
    end_user varchar(256),
    ingress varchar(16) NOT NULL,
    route varchar(16) NOT NULL,
    model varchar(128),
    served_model varchar(128),
    deployment varchar(256),
    provider varchar(32),
    status integer NOT NULL,
    error_type varchar(64),
    decided_by varchar(64),
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cached_tokens bigint NOT NULL,
    reasoning_tokens bigint NOT NULL,
    usage_source varchar(8),
    cost_picousd bigint NOT NULL,
    latency_ms double precision NOT NULL,
    ttft_ms double precision,
    upstream_ms double precision,
    overhead_ms double precision NOT NULL,
    attempts integer NOT NULL,
    fallback boolean NOT NULL,
    cache varchar(8),
    cache_saved_tokens bigint NOT NULL,
    CONSTRAINT pk_usage_records PRIMARY KEY (request_id, ts)
) PARTITION BY RANGE (ts)
"""

# Append-only: the database itself refuses to change or remove audit rows. Someone who can
# drop the trigger can still edit rows; `lockgate audit verify` finds that through the chain.
_PG_AUDIT_GUARD = [
    """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$
""",
    """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
""",
]
_SQLITE_AUDIT_GUARD = [
    """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
""",
    """
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
""",
]


def _usage_records_sqlite() -> None:
    op.create_table(
        "usage_records",
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("tenant", sa.String(64)),
        sa.Column("app_id", sa.String(32)),
        sa.Column("app_name", sa.String(64)),
        sa.Column("key_id", sa.String(32)),
        sa.Column("end_user", sa.String(256)),
        sa.Column("ingress", sa.String(16), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("model", sa.String(128)),
        sa.Column("served_model", sa.String(128)),
        sa.Column("deployment", sa.String(256)),
        sa.Column("provider", sa.String(32)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_type", sa.String(64)),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger, nullable=False),
        sa.Column("usage_source", sa.String(8)),
        sa.Column("cost_picousd", sa.BigInteger, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("ttft_ms", sa.Float),
        sa.Column("upstream_ms", sa.Float),
        sa.Column("overhead_ms", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("fallback", sa.Boolean, nullable=False),
        sa.Column("cache", sa.String(8)),
        sa.Column("cache_saved_tokens", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("request_id", "ts", name="pk_usage_records"),
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(_PG_USAGE_RECORDS)
    else:
        _usage_records_sqlite()
    op.create_index("ix_usage_records_ts", "usage_records", ["ts"])
    op.create_index("ix_usage_records_tenant_ts", "usage_records", ["tenant", "ts"])
    for table, period in (("usage_hourly", "hour"), ("usage_daily", "day")):
        op.create_table(
            table,
            sa.Column(period, sa.BigInteger, nullable=False),
            sa.Column("tenant", sa.String(64), nullable=False),
            sa.Column("app_id", sa.String(32), nullable=False),
            sa.Column("key_id", sa.String(32), nullable=False),
            sa.Column("model", sa.String(128), nullable=False),
            *(sa.Column(name, sa.BigInteger, nullable=False) for name in ROLLUP_SUMS),
            sa.PrimaryKeyConstraint(
                period, "tenant", "app_id", "key_id", "model", name=f"pk_{table}"
            ),
        )
    op.create_index("ix_usage_hourly_tenant_hour", "usage_hourly", ["tenant", "hour"])
    op.create_table(
        "usage_payloads",
        sa.Column("request_id", sa.String(40), primary_key=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
    )
    op.create_index("ix_usage_payloads_tenant_ts", "usage_payloads", ["tenant", "ts"])
    _audit(postgres)


def _audit(postgres: bool) -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32)),
        sa.Column("tenant", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(512)),
        sa.Column("status", sa.Integer),
        sa.Column("request_id", sa.String(40)),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("details", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_log_tenant_seq", "audit_log", ["tenant", "seq"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    for statement in _PG_AUDIT_GUARD if postgres else _SQLITE_AUDIT_GUARD:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in (
        "audit_head",
        "audit_log",
        "usage_payloads",
        "usage_daily",
        "usage_hourly",
        "usage_records",
    ):
        op.drop_table(table)
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
