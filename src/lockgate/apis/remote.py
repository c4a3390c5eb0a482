"""The API-product commands against a running gateway's admin API (``--url``), returning the
same records as the store, so ``lockgate apis|subscriptions`` work either way."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lockgate.admin.remote import RemoteStore, _q, _when
from lockgate.store.product_records import ApiProduct, ApiVersion, Subscription


def _version(d: Mapping[str, Any]) -> ApiVersion:
    times = ("sunset", "created_at", "updated_at", "published_at", "deprecated_at", "retired_at")
    fields: dict[str, Any] = {f: d.get(f) for f in ApiVersion.__dataclass_fields__}
    fields.update({t: _when(d.get(t)) for t in times})
    return ApiVersion(**fields)


def _api(d: Mapping[str, Any]) -> ApiProduct:
    return ApiProduct(
        name=d["name"],
        tenant=d.get("tenant"),
        subscription=d["subscription"],
        versions=tuple(_version(v) for v in d.get("versions", ())),
        description=d.get("description"),
        plan=d.get("plan"),
        source=d.get("source", "store"),
        created_at=_when(d.get("created_at")),
        updated_at=_when(d.get("updated_at")),
    )


def _subscription(d: Mapping[str, Any]) -> Subscription:
    return Subscription(
        id=d["id"],
        app_id=d["app_id"],
        app_name=d["app"],
        tenant=d["tenant"],
        api=d["api"],
        status=d["status"],
        plan=d.get("plan"),
        reason=d.get("reason"),
        decision_reason=d.get("decision_reason"),
        requested_by=d.get("requested_by"),
        decided_by=d.get("decided_by"),
        created_at=_when(d["created_at"]) or datetime.min,
        updated_at=_when(d["updated_at"]) or datetime.min,
    )


class RemoteProducts:
    def __init__(self, remote: RemoteStore) -> None:
        self._call = remote._call

    def list_apis(self) -> list[ApiProduct]:
        return [_api(a) for a in self._call("GET", "/apis")["data"]]

    def get_api(self, name: str) -> ApiProduct:
        return _api(self._call("GET", f"/apis/{_q(name)}"))

    def create_api(self, name: str, **fields: Any) -> ApiProduct:
        body = {"name": name, **{k: v for k, v in fields.items() if v is not None}}
        return _api(self._call("POST", "/apis", body))

    def add_version(self, name: str, **fields: Any) -> ApiVersion:
        body = {k: v for k, v in fields.items() if v is not None}
        return _version(self._call("POST", f"/apis/{_q(name)}/versions", body))

    def transition(
        self,
        name: str,
        version: int,
        action: str,
        *,
        sunset: datetime | None = None,
        successor: int | None = None,
    ) -> ApiVersion:
        body: dict[str, Any] = {}
        if sunset is not None:
            body["sunset"] = sunset.isoformat()
        if successor is not None:
            body["successor"] = successor
        path = f"/apis/{_q(name)}/versions/{version}/{action}"
        return _version(self._call("POST", path, body or None))

    def request_subscription(
        self, app_id: str, api: str, *, reason: str | None = None, plan: str | None = None
    ) -> Subscription:
        body = {"app_id": app_id, "api": api, "reason": reason}
        if plan is not None:
            body["plan"] = plan
        return _subscription(self._call("POST", "/subscriptions", body))

    def list_subscriptions(
        self, *, status: str | None = None, api: str | None = None, app_id: str | None = None
    ) -> list[Subscription]:
        query = "&".join(
            f"{k}={_q(v)}" for k, v in (("status", status), ("api", api), ("app", app_id)) if v
        )
        found = self._call("GET", "/subscriptions" + (f"?{query}" if query else ""))
        return [_subscription(s) for s in found["data"]]

    def decide(
        self, subscription_id: str, decision: str, *, reason: str | None, plan: str | None
    ) -> Subscription:
        body: dict[str, Any] = {"reason": reason}
        if plan is not None:
            body["plan"] = plan
        path = f"/subscriptions/{_q(subscription_id)}/{decision}"
        return _subscription(self._call("POST", path, body))
