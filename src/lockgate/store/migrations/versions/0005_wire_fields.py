"""Usage records name the request fields the serving provider did not get (a call served by a
provider of another wire format), as the ``x-lockgate-dropped-params`` header does, and count
the prompt tokens written to the provider's cache (priced at the cache-write rate).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (see 0002); on PostgreSQL the partitioned table passes it on to its
    # partitions.
    op.add_column("usage_records", sa.Column("dropped_params", sa.String(512), nullable=True))
    op.add_column(
        "usage_records",
        sa.Column("cache_write_tokens", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("usage_records", "cache_write_tokens")
    op.drop_column("usage_records", "dropped_params")
