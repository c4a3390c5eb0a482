"""Row-to-record conversion and input validation shared by the repository methods."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import ValidationError
from .records import ApiKey, App, Tenant
from .schema import ApiKeyRow, AppRow, TenantRow

TZ_ATTRIBUTE = "tz"  # a tenant's time zone, for conditions on the local time
# fullmatch, not match: "$" also matches before a final newline, which let "ab\n" through.
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def check_name(value: str, field: str = "name") -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value in (".", ".."):
        raise ValidationError(
            f"{field} must be 1-64 characters of letters, digits, '.', '_' or '-'"
            " (and not '.' or '..')",
            field=field,
        )
    return value


def check_strings(values: Iterable[str], field: str) -> list[str]:
    out = list(values)
    for v in out:
        if not isinstance(v, str) or not v or len(v) > 128:
            raise ValidationError(f"{field} must be a list of non-empty strings", field=field)
    return out


def check_attributes(values: Mapping[str, Any], field: str = "attributes") -> dict[str, Any]:
    if not isinstance(values, Mapping) or not all(isinstance(k, str) for k in values):
        raise ValidationError(f"{field} must be an object with string keys", field=field)
    tz = values.get(TZ_ATTRIBUTE)
    if tz is not None and not is_time_zone(tz):
        raise ValidationError(
            f"{field}.{TZ_ATTRIBUTE} must be an IANA time zone such as Europe/Berlin",
            field=field,
        )
    return dict(values)


def is_time_zone(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_networks(values: Iterable[str], field: str) -> list[str]:
    out = check_strings(values, field)
    for v in out:
        try:
            ipaddress.ip_network(v, strict=False)
        except ValueError:
            raise ValidationError(
                f"{field}: {v!r} is not an IP address or network (e.g. 10.0.0.0/8)", field=field
            ) from None
    return out


def check_plan(value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 128):
        raise ValidationError("plan must be a plan name or null", field="plan")
    return value


def tenant_record(row: TenantRow) -> Tenant:
    return Tenant(
        id=row.id,
        name=row.name,
        plan=row.plan,
        residency=tuple(row.residency),
        attributes=dict(row.attributes),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        allow_ips=tuple(row.allow_ips or ()),
        deny_ips=tuple(row.deny_ips or ()),
    )


def app_record(row: AppRow, tenant: str) -> App:
    return App(
        id=row.id,
        tenant=tenant,
        tenant_id=row.tenant_id,
        name=row.name,
        plan=row.plan,
        roles=tuple(row.roles),
        attributes=dict(row.attributes),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        allow_ips=tuple(row.allow_ips or ()),
        deny_ips=tuple(row.deny_ips or ()),
        created_by=row.created_by,
    )


def key_record(row: ApiKeyRow, tenant: str) -> ApiKey:
    return ApiKey(
        id=row.id,
        app_id=row.app_id,
        tenant=tenant,
        name=row.name,
        prefix=row.prefix,
        created_at=utc(row.created_at),
        expires_at=utc_or_none(row.expires_at),
        revoked_at=utc_or_none(row.revoked_at),
        rotated_from=row.rotated_from,
    )
