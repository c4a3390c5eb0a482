"""``ProductRepo``: API products, their versions and subscriptions in the store.

Reached as ``Store.products``. Every change runs in the store's identity mutation, so it bumps
``identity_version``: gateways reload the product snapshot with the keys (pub/sub with Redis
state, else their poll), which is how a revoked subscription stops working everywhere within
a second. Each subscription decision writes an event row in the same transaction: the audit
trail, and the outbox from which one gateway sends the ``subscription.*`` webhook
(``claim_events``), whether the change came from the admin API or from the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lockgate.apis import lifecycle
from lockgate.apis.definition import check_version as _check_version
from lockgate.apis.template import DefinitionError

from . import tokens
from .convert import check_name, check_plan, utc, utc_or_none
from .errors import ConflictError, NotFoundError, ValidationError
from .product_records import (
    ApiProduct,
    ApiVersion,
    ProductSnapshot,
    SubscriptionState,
)
from .schema import (
    ApiProductRow,
    ApiVersionRow,
    SubscriptionEventRow,
    SubscriptionRow,
    TenantRow,
)
from .subscriptions import SubscriptionRepo, check_mode, check_text

if TYPE_CHECKING:
    from .repo import Store

VERSION_FIELDS = (
    "model",
    "template",
    "system",
    "input_schema",
    "output_schema",
    "max_tokens",
    "temperature",
)


class ProductRepo(SubscriptionRepo):
    """API products and their versions; subscriptions come from ``SubscriptionRepo``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # --- APIs --------------------------------------------------------------------------------

    def list_apis(self) -> list[ApiProduct]:
        with self._store._sessions() as s:
            return _load_apis(s)

    def get_api(self, name: str) -> ApiProduct:
        with self._store._sessions() as s:
            found = _load_apis(s, name)
        if not found:
            raise NotFoundError(f"API {name!r} not found")
        return found[0]

    def create_api(
        self,
        name: str,
        *,
        tenant: str | None = None,
        description: str | None = None,
        subscription: str = "manual",
        plan: str | None = None,
        created_by: str | None = None,
    ) -> ApiProduct:
        now = self._store._now()
        with self._store._mutation(f"API {name!r} already exists") as s:
            tenant_id = None if tenant is None else _tenant_id(s, tenant)
            if s.scalar(select(ApiProductRow.id).where(ApiProductRow.name == name)) is not None:
                raise ConflictError(f"API {name!r} already exists", field="name")
            s.add(
                ApiProductRow(
                    id=tokens.new_id("api"),
                    name=check_name(name),
                    tenant_id=tenant_id,
                    description=check_text(description, "description"),
                    subscription=check_mode(subscription),
                    plan=check_plan(plan),
                    created_by=created_by,
                    created_at=now,
                    updated_at=now,
                )
            )
        return self.get_api(name)

    def update_api(self, name: str, **fields: Any) -> ApiProduct:
        """``description``, ``subscription``, ``plan``: only the ones given change."""
        with self._store._mutation() as s:
            row = _api_row(s, name)
            if "description" in fields:
                row.description = check_text(fields["description"], "description")
            if "subscription" in fields:
                row.subscription = check_mode(fields["subscription"])
            if "plan" in fields:
                row.plan = check_plan(fields["plan"])
            row.updated_at = self._store._now()
        return self.get_api(name)

    def delete_api(self, name: str) -> None:
        """Only an API none of whose versions is callable; its subscriptions go with it."""
        with self._store._mutation() as s:
            row = _api_row(s, name)
            live = s.scalars(
                select(ApiVersionRow.version).where(
                    ApiVersionRow.api_id == row.id,
                    ApiVersionRow.status.in_(("published", "deprecated")),
                )
            ).all()
            if live:
                raise ConflictError(
                    f"API {name!r} has callable versions ({_versions(live)}); retire them first",
                    field="name",
                )
            for sub in s.scalars(select(SubscriptionRow).where(SubscriptionRow.api == name)):
                s.delete(sub)
            s.delete(row)

    # --- versions ----------------------------------------------------------------------------

    def add_version(self, name: str, *, version: int | None = None, **fields: Any) -> ApiVersion:
        """A new draft; ``version`` defaults to the next number."""
        checked = check_version(fields, partial=False)
        now = self._store._now()
        with self._store._mutation(f"API {name!r} already has version {version}") as s:
            api = _api_row(s, name)
            taken = set(
                s.scalars(select(ApiVersionRow.version).where(ApiVersionRow.api_id == api.id))
            )
            number = version if version is not None else max(taken, default=0) + 1
            if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number < 10**9:
                raise ValidationError("version must be a positive integer", field="version")
            if number in taken:
                raise ConflictError(f"API {name!r} already has version {number}", field="version")
            row = ApiVersionRow(
                id=tokens.new_id("apv"),
                api_id=api.id,
                version=number,
                status="draft",
                created_at=now,
                updated_at=now,
                **checked,
            )
            s.add(row)
            api.updated_at = now
        return _version_record(row)

    def update_version(self, name: str, version: int, **fields: Any) -> ApiVersion:
        """Change a draft's definition; a published version is immutable (409)."""
        checked = check_version(fields, partial=True)
        with self._store._mutation() as s:
            row = _version_row(s, name, version)
            if row.status != "draft":
                raise ConflictError(
                    f"API {name!r} version {version} is {row.status}: a published version is "
                    "immutable; add a new version instead",
                    field="version",
                )
            merged = {f: getattr(row, f) for f in VERSION_FIELDS} | checked
            check_version(merged, partial=False)  # the whole definition must still hold
            for key, value in checked.items():
                setattr(row, key, value)
            row.updated_at = self._store._now()
        return _version_record(row)

    def delete_version(self, name: str, version: int) -> None:
        with self._store._mutation() as s:
            row = _version_row(s, name, version)
            if row.status != "draft":
                raise ConflictError(
                    f"API {name!r} version {version} is {row.status}; only drafts can be "
                    "deleted (retire it instead)",
                    field="version",
                )
            s.delete(row)

    def transition(
        self,
        name: str,
        version: int,
        action: str,
        *,
        sunset: datetime | None = None,
        successor: int | None = None,
    ) -> ApiVersion:
        """``publish``, ``deprecate`` (optionally with ``sunset``) or ``retire``; both may
        name a ``successor`` version."""
        with self._store._mutation() as s:
            row = _version_row(s, name, version)
            target = lifecycle.version_transition(action, row.status)
            if target is None:
                raise ConflictError(
                    f"API {name!r} version {version} is {row.status}; it cannot {action}",
                    field="status",
                )
            if successor is not None:
                _check_successor(s, row, successor)
                row.successor = successor
            now = self._store._now()
            if sunset is not None:
                row.sunset = utc(sunset)
            row.status = target
            row.updated_at = now
            if target == "published":
                row.published_at = now
            elif target == "deprecated":
                row.deprecated_at = now
            else:
                row.retired_at = now
        return _version_record(row)


def load_products(s: Session) -> ProductSnapshot:
    """The snapshot part the data plane needs, inside ``Store.load_identity``'s transaction."""
    apis = _load_apis(s)
    latest: dict[tuple[str, str], SubscriptionState] = {}
    q = select(SubscriptionRow).order_by(SubscriptionRow.created_at, SubscriptionRow.id)
    for r in s.scalars(q):
        latest[(r.app_id, r.api)] = SubscriptionState(r.app_id, r.api, r.status, r.plan, r.id)
    unannounced = s.scalar(select(func.count()).where(SubscriptionEventRow.announced_at.is_(None)))
    return ProductSnapshot(tuple(apis), tuple(latest.values()), int(unannounced or 0))


# --- helpers ---------------------------------------------------------------------------------


def _load_apis(s: Session, name: str | None = None) -> list[ApiProduct]:
    q = (
        select(ApiProductRow, TenantRow.name)
        .outerjoin(TenantRow, ApiProductRow.tenant_id == TenantRow.id)
        .order_by(ApiProductRow.name)
    )
    vq = select(ApiVersionRow).order_by(ApiVersionRow.version)
    if name is not None:
        q = q.where(ApiProductRow.name == name)
        vq = vq.join(ApiProductRow).where(ApiProductRow.name == name)
    versions: dict[str, list[ApiVersion]] = {}
    for v in s.scalars(vq):
        versions.setdefault(v.api_id, []).append(_version_record(v))
    return [
        ApiProduct(
            id=row.id,
            name=row.name,
            tenant=tenant,
            description=row.description,
            subscription=row.subscription,
            plan=row.plan,
            created_by=row.created_by,
            created_at=utc(row.created_at),
            updated_at=utc(row.updated_at),
            versions=tuple(versions.get(row.id, ())),
        )
        for row, tenant in s.execute(q).all()
    ]


def _version_record(r: ApiVersionRow) -> ApiVersion:
    return ApiVersion(
        version=r.version,
        status=r.status,
        model=r.model,
        template=r.template,
        system=r.system,
        input_schema=dict(r.input_schema or {}),
        output_schema=dict(r.output_schema) if r.output_schema is not None else None,
        max_tokens=r.max_tokens,
        temperature=r.temperature,
        sunset=utc_or_none(r.sunset),
        successor=r.successor,
        created_at=utc(r.created_at),
        updated_at=utc(r.updated_at),
        published_at=utc_or_none(r.published_at),
        deprecated_at=utc_or_none(r.deprecated_at),
        retired_at=utc_or_none(r.retired_at),
    )


def check_version(fields: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    try:
        return _check_version(fields, partial=partial)
    except DefinitionError as err:
        raise ValidationError(str(err), field=err.field) from None


def _tenant_id(s: Session, name: str) -> str:
    found = s.scalar(select(TenantRow.id).where(TenantRow.name == name))
    if found is None:
        raise NotFoundError(f"tenant {name!r} not found", field="tenant")
    return found


def _api_row(s: Session, name: str) -> ApiProductRow:
    row = s.scalar(select(ApiProductRow).where(ApiProductRow.name == name))
    if row is None:
        raise NotFoundError(f"API {name!r} not found")
    return row


def _version_row(s: Session, name: str, version: int) -> ApiVersionRow:
    api = _api_row(s, name)
    row = s.scalar(
        select(ApiVersionRow).where(
            ApiVersionRow.api_id == api.id, ApiVersionRow.version == version
        )
    )
    if row is None:
        raise NotFoundError(f"API {name!r} has no version {version}")
    return row


def _check_successor(s: Session, row: ApiVersionRow, successor: int) -> None:
    if successor == row.version:
        raise ValidationError("successor must be another version", field="successor")
    found = s.scalar(
        select(ApiVersionRow.status).where(
            ApiVersionRow.api_id == row.api_id, ApiVersionRow.version == successor
        )
    )
    if found is None:
        raise ValidationError(f"successor: there is no version {successor}", field="successor")


def _versions(numbers: Iterable[int]) -> str:
    return ", ".join(f"v{n}" for n in sorted(numbers))


def version_fields(version: ApiVersion) -> Mapping[str, Any]:
    return {f: getattr(version, f) for f in VERSION_FIELDS}
