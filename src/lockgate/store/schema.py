"""ORM mapping of the identity tables. Migrations (``migrations/versions``) own the DDL;
these classes must match them, which ``tests/store/test_store_migrations.py`` checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
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
    # The admin key that created it (migration 0004): a developer key manages its own apps.
    created_by: Mapped[str | None] = mapped_column(String(64))


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


# --- API products (migration 0004) -----------------------------------------------------------


class ApiProductRow(Base):
    __tablename__ = "api_products"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # The owning tenant (its admins manage and approve); None: the platform's.
    tenant_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str | None] = mapped_column(Text)
    subscription: Mapped[str] = mapped_column(String(16))  # auto | manual
    plan: Mapped[str | None] = mapped_column(String(128))  # default plan of its subscriptions
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiVersionRow(Base):
    __tablename__ = "api_versions"
    __table_args__ = (UniqueConstraint("api_id", "version", name="uq_api_versions_api_version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    api_id: Mapped[str] = mapped_column(
        ID, ForeignKey("api_products.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # draft | published | deprecated | retired
    model: Mapped[str] = mapped_column(String(128))
    template: Mapped[str] = mapped_column(Text)
    system: Mapped[str | None] = mapped_column(Text)
    input_schema: Mapped[dict[str, Any]]
    output_schema: Mapped[dict[str, Any] | None]
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Float)
    sunset: Mapped[datetime | None]
    successor: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    deprecated_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]


class SubscriptionRow(Base):
    __tablename__ = "api_subscriptions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    app_id: Mapped[str] = mapped_column(ID, ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    # By name, not a foreign key: config-defined APIs have no row.
    api: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | active | rejected | revoked
    plan: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)  # the requester's
    decision_reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SubscriptionEventRow(Base):
    """Every subscription decision, kept after the subscription (or its app) is gone: the
    audit trail, and the outbox of ``subscription.*`` webhook events (``announced_at``)."""

    __tablename__ = "api_subscription_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ID, index=True)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    at: Mapped[datetime]
    announced_at: Mapped[datetime | None] = mapped_column(index=True)
