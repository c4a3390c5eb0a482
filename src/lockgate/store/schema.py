"""ORM mapping of the identity tables. Migrations (``migrations/versions``) own the DDL;
these classes must match them, which ``tests/store/test_store_migrations.py`` checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(32)
Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, datetime: Timestamp}


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    plan: Mapped[str | None] = mapped_column(String(128))
    residency: Mapped[list[str]]
    attributes: Mapped[dict[str, Any]]
    allow_ips: Mapped[list[str]] = mapped_column(server_default=text("'[]'"))
    deny_ips: Mapped[list[str]] = mapped_column(server_default=text("'[]'"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AppRow(Base):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_apps_tenant_name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        ID, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    plan: Mapped[str | None] = mapped_column(String(128))
    roles: Mapped[list[str]]
    attributes: Mapped[dict[str, Any]]
    allow_ips: Mapped[list[str]] = mapped_column(server_default=text("'[]'"))
    deny_ips: Mapped[list[str]] = mapped_column(server_default=text("'[]'"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    app_id: Mapped[str] = mapped_column(ID, ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash_kind: Mapped[str] = mapped_column(String(16), server_default="sha256")  # keyhash.py
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    rotated_from: Mapped[str | None] = mapped_column(ID)


class AdminKeyRow(Base):
    __tablename__ = "admin_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    # A foreign key, not a name: deleting a tenant must also end its admins' access, even if a
    # tenant with the same name is created later.
    tenant_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash_kind: Mapped[str] = mapped_column(String(16), server_default="sha256")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class IdentityVersionRow(Base):
    """One row; its counter is bumped in the transaction of every identity change."""

    __tablename__ = "identity_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class MetaRow(Base):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
