"""Access control: keyed key hashes, per-tenant and per-app IP rules.

``hash_kind`` tells how a key's ``hash`` was made: rows that exist now are plain SHA-256
(``sha256``) and keep working; new rows are HMAC-SHA256 with the server secret (``hmac``).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("api_keys", "admin_keys"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("hash_kind", sa.String(16), nullable=False, server_default="sha256")
            )
    for table in ("tenants", "apps"):
        with op.batch_alter_table(table) as batch:
            for column in ("allow_ips", "deny_ips"):
                batch.add_column(
                    sa.Column(column, sa.JSON, nullable=False, server_default=sa.text("'[]'"))
                )


def downgrade() -> None:
    for table in ("tenants", "apps"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("deny_ips")
            batch.drop_column("allow_ips")
    for table in ("api_keys", "admin_keys"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("hash_kind")
