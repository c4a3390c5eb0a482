"""Frozen values of API products, their versions and subscriptions, as the store returns them.

Config-defined APIs are converted into the same ``ApiProduct`` (``source="config"``), so the
admin API, the CLI and the catalog handle both alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ApiVersion:
    version: int
    status: str  # draft | published | deprecated | retired
    model: str
    template: str
    system: str | None = None
    input_schema: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    sunset: datetime | None = None
    successor: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    deprecated_at: datetime | None = None
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiProduct:
    name: str
    tenant: str | None  # the owning tenant's name; None: the platform's
    subscription: str  # auto | manual
    versions: tuple[ApiVersion, ...] = ()
    description: str | None = None
    plan: str | None = None  # default plan of new subscriptions
    source: str = "store"  # store | config (read-only in the admin API)
    id: str = ""
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def version(self, number: int) -> ApiVersion | None:
        for v in self.versions:
            if v.version == number:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    app_id: str
    app_name: str
    tenant: str  # the app's tenant
    api: str
    status: str  # pending | active | rejected | revoked
    plan: str | None
    reason: str | None
    decision_reason: str | None
    requested_by: str | None
    decided_by: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionEvent:
    id: int
    subscription_id: str
    event: str  # subscription.requested | approved | rejected | revoked
    actor: str
    reason: str | None
    data: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """What a call needs to know: the latest subscription of an app to an API."""

    app_id: str
    api: str
    status: str
    plan: str | None
    id: str = ""


@dataclass(frozen=True, slots=True)
class ProductSnapshot:
    """The store's API products and subscription states, loaded with the identity snapshot."""

    apis: tuple[ApiProduct, ...] = ()
    subscriptions: tuple[SubscriptionState, ...] = ()
    unannounced: int = 0  # decisions whose webhook event no gateway has sent yet
