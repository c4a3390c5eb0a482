"""Subscriptions to API products in the store: requests, decisions and their event log.

Mixed into ``ProductRepo`` (``Store.products``). Every change runs in the store's identity
mutation (gateways reload their in-memory subscription index within a second), and each
decision writes an event row in the same transaction: the audit trail, and the outbox from
which exactly one gateway sends the ``subscription.*`` webhook (``claim_events``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lockgate.apis import lifecycle

from . import tokens
from .convert import check_plan, utc
from .errors import ConflictError, NotFoundError, ValidationError
from .product_records import Subscription, SubscriptionEvent
from .schema import AppRow, SubscriptionEventRow, SubscriptionRow, TenantRow

if TYPE_CHECKING:
    from .repo import Store

MAX_TEXT = 4000  # characters of a description or a reason


class SubscriptionRepo:
    _store: Store

    def request_subscription(
        self,
        app_id: str,
        api: str,
        *,
        mode: str,
        plan: str | None = None,
        reason: str | None = None,
        actor: str = "cli",
    ) -> Subscription:
        """``pending``, or ``active`` at once when the API's ``mode`` is ``auto``; 409 while
        the app has a pending or active subscription to the API."""
        now = self._store._now()
        with self._store._mutation() as s:
            app, tenant = _app(s, app_id)
            live = select(SubscriptionRow.id).where(
                SubscriptionRow.app_id == app_id,
                SubscriptionRow.api == api,
                SubscriptionRow.status.in_(tuple(lifecycle.LIVE)),
            )
            if s.scalar(live) is not None:
                raise ConflictError(
                    f"app {app_id!r} already has a pending or active subscription to {api!r}",
                    field="api",
                )
            row = SubscriptionRow(
                id=tokens.new_id("sub"),
                app_id=app_id,
                api=api,
                status="pending",
                plan=check_plan(plan),
                reason=check_text(reason, "reason"),
                decision_reason=None,
                requested_by=actor,
                decided_by=None,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            _event(s, row, app, tenant, actor, row.reason, now)
            if check_mode(mode) == "auto":
                row.status = "active"
                row.decided_by = "auto"
                _event(s, row, app, tenant, "auto", None, now)
            return _subscription_record(row, app.name, tenant)

    def decide(
        self,
        subscription_id: str,
        decision: lifecycle.Decision,
        *,
        actor: str,
        reason: str | None = None,
        plan: str | None = None,
        set_plan: bool = False,
    ) -> Subscription:
        """``plan`` replaces the subscription's plan when ``set_plan`` (None clears it)."""
        with self._store._mutation() as s:
            row, app, tenant = _subscription_row(s, subscription_id)
            target = lifecycle.decision_transition(decision, row.status)
            if target is None:
                raise ConflictError(
                    f"subscription {subscription_id!r} is {row.status}; it cannot be "
                    f"{_past(decision)}",
                    field="status",
                )
            now = self._store._now()
            row.status = target
            row.decided_by = actor
            row.decision_reason = check_text(reason, "reason")
            if set_plan:
                row.plan = check_plan(plan)
            row.updated_at = now
            _event(s, row, app, tenant, actor, row.decision_reason, now)
            return _subscription_record(row, app.name, tenant)

    def list_subscriptions(
        self,
        *,
        status: str | None = None,
        api: str | None = None,
        app_id: str | None = None,
        tenants: Iterable[str] | None = None,
    ) -> list[Subscription]:
        """Newest first. ``tenants`` limits the result to apps of those tenants."""
        q = (
            select(SubscriptionRow, AppRow.name, TenantRow.name)
            .join(AppRow, SubscriptionRow.app_id == AppRow.id)
            .join(TenantRow, AppRow.tenant_id == TenantRow.id)
            .order_by(SubscriptionRow.created_at.desc(), SubscriptionRow.id)
        )
        if status is not None:
            q = q.where(SubscriptionRow.status == status)
        if api is not None:
            q = q.where(SubscriptionRow.api == api)
        if app_id is not None:
            q = q.where(SubscriptionRow.app_id == app_id)
        if tenants is not None:
            q = q.where(TenantRow.name.in_(tuple(tenants)))
        with self._store._sessions() as s:
            return [_subscription_record(r, a, t) for r, a, t in s.execute(q).all()]

    def get_subscription(self, subscription_id: str) -> Subscription:
        with self._store._sessions() as s:
            row, app, tenant = _subscription_row(s, subscription_id)
            return _subscription_record(row, app.name, tenant)

    def subscription_events(self, subscription_id: str) -> list[SubscriptionEvent]:
        q = (
            select(SubscriptionEventRow)
            .where(SubscriptionEventRow.subscription_id == subscription_id)
            .order_by(SubscriptionEventRow.id)
        )
        with self._store._sessions() as s:
            return [_event_record(r) for r in s.scalars(q)]

    def claim_events(self, limit: int = 500) -> list[SubscriptionEvent]:
        """Decisions no gateway has announced yet, each claimed by exactly one caller (the
        conditional update is atomic on SQLite and PostgreSQL alike)."""
        now = self._store._now()
        with self._store._sessions.begin() as s:
            ids = s.scalars(
                select(SubscriptionEventRow.id)
                .where(SubscriptionEventRow.announced_at.is_(None))
                .order_by(SubscriptionEventRow.id)
                .limit(limit)
            ).all()
            if not ids:
                return []
            claimed = s.scalars(
                update(SubscriptionEventRow)
                .where(
                    SubscriptionEventRow.id.in_(ids),
                    SubscriptionEventRow.announced_at.is_(None),
                )
                .values(announced_at=now)
                .returning(SubscriptionEventRow)
            ).all()
            return sorted((_event_record(r) for r in claimed), key=lambda e: e.id)


# --- helpers ---------------------------------------------------------------------------------


def _subscription_record(r: SubscriptionRow, app: str, tenant: str) -> Subscription:
    return Subscription(
        id=r.id,
        app_id=r.app_id,
        app_name=app,
        tenant=tenant,
        api=r.api,
        status=r.status,
        plan=r.plan,
        reason=r.reason,
        decision_reason=r.decision_reason,
        requested_by=r.requested_by,
        decided_by=r.decided_by,
        created_at=utc(r.created_at),
        updated_at=utc(r.updated_at),
    )


def _event_record(r: SubscriptionEventRow) -> SubscriptionEvent:
    return SubscriptionEvent(
        id=r.id,
        subscription_id=r.subscription_id,
        event=r.event,
        actor=r.actor,
        reason=r.reason,
        data=dict(r.data or {}),
        at=utc(r.at),
    )


def _event(
    s: Session,
    row: SubscriptionRow,
    app: AppRow,
    tenant: str,
    actor: str,
    reason: str | None,
    now: datetime,
) -> None:
    event = lifecycle.EVENTS[row.status]  # type: ignore[index]
    data = {
        "subscription_id": row.id,
        "api": row.api,
        "app_id": app.id,
        "app": app.name,
        "tenant": tenant,
        "status": row.status,
        "plan": row.plan,
        "actor": actor,
        "reason": reason,
    }
    s.add(
        SubscriptionEventRow(
            subscription_id=row.id,
            event=event,
            actor=actor,
            reason=reason,
            data=data,
            at=now,
            announced_at=None,
        )
    )


def _app(s: Session, app_id: str) -> tuple[AppRow, str]:
    found = s.execute(
        select(AppRow, TenantRow.name).join(TenantRow).where(AppRow.id == app_id)
    ).first()
    if found is None:
        raise NotFoundError(f"app {app_id!r} not found", field="app_id")
    return found[0], found[1]


def _subscription_row(s: Session, subscription_id: str) -> tuple[SubscriptionRow, AppRow, str]:
    found = s.execute(
        select(SubscriptionRow, AppRow, TenantRow.name)
        .join(AppRow, SubscriptionRow.app_id == AppRow.id)
        .join(TenantRow, AppRow.tenant_id == TenantRow.id)
        .where(SubscriptionRow.id == subscription_id)
    ).first()
    if found is None:
        raise NotFoundError(f"subscription {subscription_id!r} not found")
    return found[0], found[1], found[2]


def check_mode(value: object) -> str:
    if value not in ("auto", "manual"):
        raise ValidationError("subscription must be auto or manual", field="subscription")
    return str(value)


def check_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValidationError(f"{field} must be text of at most {MAX_TEXT} characters", field=field)
    return value


def _past(decision: str) -> str:
    return {"approve": "approved", "reject": "rejected", "revoke": "revoked"}[decision]
