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
    # Plain ADD COLUMN, never batch mode: on SQLite a batch "move and copy" drops the old table,
    # and with foreign keys on, ON DELETE CASCADE would empty every table that refers to it.
    for table in ("api_keys", "admin_keys"):
        op.add_column(
            table, sa.Column("hash_kind", sa.String(16), nullable=False, server_default="sha256")
        )
    for table in ("tenants", "apps"):
        for column in ("allow_ips", "deny_ips"):
            op.add_column(
                table, sa.Column(column, sa.JSON, nullable=False, server_default=sa.text("'[]'"))
            )


def downgrade() -> None:
    for table in ("tenants", "apps"):
        op.drop_column(table, "deny_ips")
        op.drop_column(table, "allow_ips")
    for table in ("api_keys", "admin_keys"):
        op.drop_column(table, "hash_kind")
