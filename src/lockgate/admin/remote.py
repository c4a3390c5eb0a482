"""``RemoteStore``: the identity commands against a running gateway's admin API.

It offers the methods of ``Store`` the CLI uses and returns the same records, so every
``lockgate tenants|apps|keys|admin-keys`` command works either straight on the store or, with
``--url`` and ``--admin-key``, through ``/admin/v1`` with the admin key's role and scope (a
tenant-admin's CLI sees its tenant only). Errors come back as the store's errors, with the
API's message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from lockgate.store.errors import ConflictError, NotFoundError, StoreError, ValidationError
from lockgate.store.records import AdminKey, ApiKey, App, CreatedAdminKey, CreatedKey, Tenant

PREFIX = "/admin/v1"
TIMEOUT = 30.0


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _tenant(d: Mapping[str, Any]) -> Tenant:
    return Tenant(
        id="",
        name=d["name"],
        plan=d["plan"],
        residency=tuple(d["residency"]),
        attributes=dict(d["attributes"]),
        created_at=_when(d["created_at"]),  # type: ignore[arg-type]
        updated_at=_when(d["updated_at"]),  # type: ignore[arg-type]
        allow_ips=tuple(d.get("allow_ips", ())),
        deny_ips=tuple(d.get("deny_ips", ())),
    )


def _app(d: Mapping[str, Any]) -> App:
    return App(
        id=d["id"],
        tenant=d["tenant"],
        tenant_id="",
        name=d["name"],
        plan=d["plan"],
        roles=tuple(d["roles"]),
        attributes=dict(d["attributes"]),
        created_at=_when(d["created_at"]),  # type: ignore[arg-type]
        updated_at=_when(d["updated_at"]),  # type: ignore[arg-type]
        allow_ips=tuple(d.get("allow_ips", ())),
        deny_ips=tuple(d.get("deny_ips", ())),
    )


def _key(d: Mapping[str, Any], tenant: str = "") -> ApiKey:
    return ApiKey(
        id=d["id"],
        app_id=d["app_id"],
        tenant=tenant,
        name=d.get("name"),
        prefix=d["prefix"],
        created_at=_when(d.get("created_at")) or datetime.min,
        expires_at=_when(d.get("expires_at")),
        revoked_at=_when(d.get("revoked_at")),
        rotated_from=d.get("rotated_from"),
    )


def _admin_key(d: Mapping[str, Any]) -> AdminKey:
    return AdminKey(
        id=d["id"],
        role=d["role"],
        tenant=d["tenant"],
        prefix=d["prefix"],
        created_at=_when(d.get("created_at")) or datetime.min,
        revoked_at=_when(d.get("revoked_at")),
    )


class RemoteStore:
    def __init__(self, url: str, admin_key: str) -> None:
        self.base = url.rstrip("/") + PREFIX
        self._auth = f"Bearer {admin_key}"

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body, default=str).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("authorization", self._auth)
        if data is not None:
            request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(f"cannot reach the gateway at {self.base}: {exc}") from None
        return json.loads(raw) if raw else None

    def close(self) -> None:
        pass

    def migrate(self) -> None:
        pass  # the gateway keeps its own store migrated

    # --- the Store methods the CLI uses ------------------------------------------------------

    def create_tenant(self, name: str, **fields: Any) -> Tenant:
        return _tenant(self._call("POST", "/tenants", {"name": name, **_plain(fields)}))

    def list_tenants(self) -> list[Tenant]:
        return [_tenant(t) for t in self._call("GET", "/tenants")["data"]]

    def get_tenant(self, name: str) -> Tenant:
        return _tenant(self._call("GET", f"/tenants/{_q(name)}"))

    def delete_tenant(self, name: str, *, cascade: bool = False) -> None:
        self._call("DELETE", f"/tenants/{_q(name)}?cascade={str(cascade).lower()}")

    def create_app(self, tenant: str, name: str, **fields: Any) -> App:
        body = {"name": name, **_plain(fields)}
        return _app(self._call("POST", f"/tenants/{_q(tenant)}/apps", body))

    def list_apps(self, tenant: str) -> list[App]:
        return [_app(a) for a in self._call("GET", f"/tenants/{_q(tenant)}/apps")["data"]]

    def delete_app(self, app_id: str) -> None:
        self._call("DELETE", f"/apps/{_q(app_id)}")

    def create_key(
        self, app_id: str, *, name: str | None = None, expires_at: datetime | None = None
    ) -> CreatedKey:
        body = {"name": name, "expires_at": expires_at.isoformat() if expires_at else None}
        d = self._call("POST", f"/apps/{_q(app_id)}/keys", body)
        return CreatedKey(key=_key(d), secret=d["key"])

    def list_keys(self, app_id: str) -> list[ApiKey]:
        return [_key(k) for k in self._call("GET", f"/apps/{_q(app_id)}/keys")["data"]]

    def rotate_key(self, key_id: str, grace_seconds: float | None = None) -> CreatedKey:
        d = self._call("POST", f"/keys/{_q(key_id)}/rotate", {"grace_seconds": grace_seconds})
        return CreatedKey(key=_key(d), secret=d["key"])

    def revoke_key(self, key_id: str) -> ApiKey:
        self._call("DELETE", f"/keys/{_q(key_id)}")
        return ApiKey(key_id, "", "", None, "", datetime.min, None, datetime.min, None)

    def create_admin_key(self, role: str, tenant: str | None = None) -> CreatedAdminKey:
        d = self._call("POST", "/admin-keys", {"role": role, "tenant": tenant})
        return CreatedAdminKey(key=_admin_key(d), secret=d["key"])

    def list_admin_keys(self, tenant: str | None = None) -> list[AdminKey]:
        keys = [_admin_key(k) for k in self._call("GET", "/admin-keys")["data"]]
        return [k for k in keys if tenant is None or k.tenant == tenant]

    def revoke_admin_key(self, admin_key_id: str) -> None:
        self._call("DELETE", f"/admin-keys/{_q(admin_key_id)}")


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _plain(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Creation fields as JSON, leaving out the unset ones: a field sent, even empty, is a
    field set (and plan, roles and attributes are platform-admin's to set)."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if v is None or (isinstance(v, Iterable) and not v):
            continue
        out[k] = list(v) if isinstance(v, Iterable) and not isinstance(v, str | dict) else v
    return out


def _error(status: int, raw: bytes) -> StoreError:
    try:
        message = str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = raw.decode("utf-8", "replace")[:200] or f"HTTP {status}"
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status in (400, 413, 422):
        return ValidationError(message)
    return StoreError(f"the gateway answered {status}: {message}")
