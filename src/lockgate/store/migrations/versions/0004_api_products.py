"""API products: APIs, their versions, subscriptions and the subscription decision log; the
creator of each app (a developer admin key manages the apps it created); the API and version
of each usage record.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (see 0002): a batch copy of ``apps`` would cascade.
    op.add_column("apps", sa.Column("created_by", sa.String(64), nullable=True))
    # Usage records name the API product and version a call was made through. On PostgreSQL
    # the partitioned table passes both the columns and the index on to its partitions.
    op.add_column("usage_records", sa.Column("api", sa.String(64), nullable=True))
    op.add_column("usage_records", sa.Column("api_version", sa.Integer, nullable=True))
    op.create_index("ix_usage_records_api_ts", "usage_records", ["api", "ts"])
    op.create_table(
        "api_products",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "tenant_id",
            ID,
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("subscription", sa.String(16), nullable=False),
        sa.Column("plan", sa.String(128), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "api_versions",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "api_id",
            ID,
            sa.ForeignKey("api_products.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("system", sa.Text, nullable=True),
        sa.Column("input_schema", sa.JSON, nullable=False),
        sa.Column("output_schema", sa.JSON, nullable=True),
        sa.Column("max_tokens", sa.Integer, nullable=True),
        sa.Column("temperature", sa.Float, nullable=True),
        sa.Column("sunset", TS, nullable=True),
        sa.Column("successor", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("deprecated_at", TS, nullable=True),
        sa.Column("retired_at", TS, nullable=True),
        sa.UniqueConstraint("api_id", "version", name="uq_api_versions_api_version"),
    )
    op.create_table(
        "api_subscriptions",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "app_id", ID, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("api", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("plan", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        sa.Column("requested_by", sa.String(64), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "api_subscription_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", ID, nullable=False, index=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("announced_at", TS, nullable=True, index=True),
    )


def downgrade() -> None:
    for table in ("api_subscription_events", "api_subscriptions", "api_versions", "api_products"):
        op.drop_table(table)
    op.drop_index("ix_usage_records_api_ts", table_name="usage_records")
    op.drop_column("usage_records", "api_version")
    op.drop_column("usage_records", "api")
    op.drop_column("apps", "created_by")
