"""Usage records say why a request went where it went: the routing steps of a request that was
not simply served by its first choice (a conditional route, skipped or failed deployments,
fallbacks), as one line.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (see 0002); on PostgreSQL the partitioned table passes it on.
    op.add_column("usage_records", sa.Column("routing", sa.String(1024), nullable=True))


def downgrade() -> None:
    op.drop_column("usage_records", "routing")
