"""Request and response bodies of the admin API (SPEC section 3 field names)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from lockgate.store.records import AdminKey, AdminRole, ApiKey, App, CreatedKey, Tenant


def _date_time_text(value: Any) -> Any:
    """A number is refused: pydantic would read 1700000000000 as milliseconds, silently."""
    if value is not None and not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2030-01-01T00:00:00Z")
    return value


def future_expiry(value: datetime) -> datetime:
    """An expiry must lie ahead: a key born expired is a mistake, never what was meant.
    A time without a zone is UTC, as in the store. Shared with the CLI."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if moment <= datetime.now(UTC):
        raise ValueError("expires_at is in the past: a key must expire in the future")
    return value


DateTimeText = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(future_expiry)]


class Body(BaseModel):
    # A misspelt field is an error naming it, never silently ignored.
    model_config = ConfigDict(extra="forbid")


IPS = "IP addresses or CIDR networks (IPv4 or IPv6)"


class TenantCreate(Body):
    name: str
    plan: str | None = None
    residency: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    allow_ips: list[str] = Field(default_factory=list, description=f"Only these {IPS} may call.")
    deny_ips: list[str] = Field(default_factory=list, description=f"These {IPS} may not call.")


class TenantPatch(Body):
    plan: str | None = None
    residency: list[str] | None = None
    attributes: dict[str, Any] | None = None
    allow_ips: list[str] | None = None
    deny_ips: list[str] | None = None


class AppCreate(Body):
    name: str
    plan: str | None = None
    roles: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    allow_ips: list[str] = Field(default_factory=list, description=f"Only these {IPS} may call.")
    deny_ips: list[str] = Field(default_factory=list, description=f"These {IPS} may not call.")


class AppPatch(Body):
    name: str | None = None
    plan: str | None = None
    roles: list[str] | None = None
    attributes: dict[str, Any] | None = None
    allow_ips: list[str] | None = None
    deny_ips: list[str] | None = None


class KeyCreate(Body):
    name: str | None = Field(default=None, max_length=128)
    expires_at: DateTimeText | None = None


class KeyRotate(Body):
    grace_seconds: float | None = Field(
        default=None,
        ge=0,
        le=366 * 86400,
        description="How long the old key keeps working (default: auth.api_keys.rotation_grace)",
    )


class AdminKeyCreate(Body):
    role: AdminRole
    tenant: str | None = None


class TenantOut(BaseModel):
    name: str
    plan: str | None
    residency: list[str]
    attributes: dict[str, Any]
    allow_ips: list[str]
    deny_ips: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: Tenant) -> TenantOut:
        return cls.model_validate(t, from_attributes=True)


class AppOut(BaseModel):
    id: str
    tenant: str
    name: str
    plan: str | None
    roles: list[str]
    attributes: dict[str, Any]
    allow_ips: list[str]
    deny_ips: list[str]
    created_at: datetime
    updated_at: datetime
    created_by: str | None = Field(
        default=None, description="The admin key that created it (a developer manages its own)."
    )

    @classmethod
    def of(cls, a: App) -> AppOut:
        return cls.model_validate(a, from_attributes=True)


class KeyOut(BaseModel):
    """A listed key: its display prefix only, never the secret or its hash."""

    id: str
    app_id: str
    name: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: str | None

    @classmethod
    def of(cls, k: ApiKey) -> KeyOut:
        return cls.model_validate(k, from_attributes=True)


class CreatedKeyOut(BaseModel):
    id: str
    key: str = Field(description="The secret. Shown only in this response; store it now.")
    prefix: str
    app_id: str
    name: str | None
    expires_at: datetime | None
    rotated_from: str | None = None

    @classmethod
    def of(cls, c: CreatedKey) -> CreatedKeyOut:
        k = c.key
        return cls(
            id=k.id,
            key=c.secret,
            prefix=k.prefix,
            app_id=k.app_id,
            name=k.name,
            expires_at=k.expires_at,
            rotated_from=k.rotated_from,
        )


class CreatedAdminKeyOut(BaseModel):
    id: str
    key: str = Field(description="The secret. Shown only in this response; store it now.")
    role: AdminRole
    tenant: str | None
    prefix: str

    @classmethod
    def of(cls, k: AdminKey, secret: str) -> CreatedAdminKeyOut:
        return cls(id=k.id, key=secret, role=k.role, tenant=k.tenant, prefix=k.prefix)


class AdminKeyOut(BaseModel):
    """A listed admin key: its display prefix only."""

    id: str
    role: AdminRole
    tenant: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: AdminKey) -> AdminKeyOut:
        return cls.model_validate(k, from_attributes=True)


class AdminKeyList(BaseModel):
    data: list[AdminKeyOut]


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None
    param: str | None


class ErrorOut(BaseModel):
    """Every admin error: ``{"error": {message, type, code, param}}``."""

    error: ErrorDetail


class TenantList(BaseModel):
    data: list[TenantOut]


class AppList(BaseModel):
    data: list[AppOut]


class KeyList(BaseModel):
    data: list[KeyOut]
