"""Request and response bodies of the admin API's ``/apis`` and ``/subscriptions`` routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from lockgate.admin.schemas import Body
from lockgate.store.product_records import (
    ApiProduct,
    ApiVersion,
    Subscription,
    SubscriptionEvent,
)

Mode = Literal["auto", "manual"]
Name = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
Reason = Field(default=None, max_length=4000)


class ApiCreate(Body):
    name: str = Name
    tenant: str | None = Field(
        default=None, description="The owning tenant (default: a tenant-admin's own tenant)."
    )
    description: str | None = Field(default=None, max_length=4000)
    subscription: Mode = "manual"
    plan: str | None = Field(default=None, description="Default plan of new subscriptions.")


class ApiPatch(Body):
    description: str | None = Field(default=None, max_length=4000)
    subscription: Mode | None = None
    plan: str | None = None


class VersionFields(Body):
    model: str = Field(min_length=1, max_length=128)
    template: str = Field(min_length=1, max_length=100_000)
    system: str | None = Field(default=None, max_length=100_000)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)


class VersionCreate(VersionFields):
    version: int | None = Field(default=None, ge=1, lt=10**9, description="Default: next.")


class VersionPatch(Body):
    model: str | None = Field(default=None, min_length=1, max_length=128)
    template: str | None = Field(default=None, min_length=1, max_length=100_000)
    system: str | None = Field(default=None, max_length=100_000)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)


class Deprecate(Body):
    sunset: date | datetime | None = Field(
        default=None, description="When it stops answering (a date is 00:00 UTC)."
    )
    successor: int | None = Field(default=None, ge=1, lt=10**9)


class Retire(Body):
    successor: int | None = Field(default=None, ge=1, lt=10**9)


class VersionOut(BaseModel):
    api: str
    version: int
    status: str
    path: str
    model: str
    template: str
    system: str | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    max_tokens: int | None
    temperature: float | None
    sunset: datetime | None
    successor: int | None
    created_at: datetime | None
    updated_at: datetime | None
    published_at: datetime | None
    deprecated_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def of(cls, api: str, v: ApiVersion) -> VersionOut:
        return cls(
            api=api,
            path=f"/apis/{api}/v{v.version}",
            **{f: getattr(v, f) for f in ApiVersion.__dataclass_fields__},
        )


class ApiOut(BaseModel):
    name: str
    tenant: str | None = Field(description="The owning tenant; shown to its admins only.")
    description: str | None
    subscription: str
    plan: str | None
    source: str = Field(description="store, or config (read-only here)")
    created_at: datetime | None
    updated_at: datetime | None
    versions: list[VersionOut]

    @classmethod
    def of(cls, api: ApiProduct, versions: list[ApiVersion], show_tenant: bool) -> ApiOut:
        return cls(
            name=api.name,
            tenant=api.tenant if show_tenant else None,
            description=api.description,
            subscription=api.subscription,
            plan=api.plan,
            source=api.source,
            created_at=api.created_at,
            updated_at=api.updated_at,
            versions=[VersionOut.of(api.name, v) for v in versions],
        )


class ApiList(BaseModel):
    data: list[ApiOut]


class SubscriptionCreate(Body):
    app_id: str = Field(min_length=1, max_length=64)
    api: str = Field(min_length=1, max_length=64)
    reason: str | None = Reason
    plan: str | None = Field(
        default=None, description="Limits for this app on this API (API owner's admins only)."
    )


class Decide(Body):
    reason: str | None = Reason


class Approve(Decide):
    plan: str | None = Field(
        default=None, description="Replaces the subscription's plan (its limits on this API)."
    )


class EventOut(BaseModel):
    event: str
    actor: str
    reason: str | None
    at: datetime

    @classmethod
    def of(cls, e: SubscriptionEvent) -> EventOut:
        return cls(event=e.event, actor=e.actor, reason=e.reason, at=e.at)


class SubscriptionOut(BaseModel):
    id: str
    app_id: str
    app: str
    tenant: str
    api: str
    status: str
    plan: str | None
    reason: str | None
    decision_reason: str | None
    requested_by: str | None
    decided_by: str | None
    created_at: datetime
    updated_at: datetime
    history: list[EventOut] | None = None

    @classmethod
    def of(cls, s: Subscription, history: list[SubscriptionEvent] | None = None) -> SubscriptionOut:
        return cls(
            id=s.id,
            app_id=s.app_id,
            app=s.app_name,
            tenant=s.tenant,
            api=s.api,
            status=s.status,
            plan=s.plan,
            reason=s.reason,
            decision_reason=s.decision_reason,
            requested_by=s.requested_by,
            decided_by=s.decided_by,
            created_at=s.created_at,
            updated_at=s.updated_at,
            history=None if history is None else [EventOut.of(e) for e in history],
        )


class SubscriptionList(BaseModel):
    data: list[SubscriptionOut]
