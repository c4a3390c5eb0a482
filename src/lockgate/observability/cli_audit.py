"""Identity changes made with the CLI (``lockgate tenants|apps|keys``) in the audit log.

Those commands write to the store directly, not through the admin API, so the API's audit
wrapper never sees them. ``audited_store`` wraps the store the commands use: each mutating
method appends an entry (actor ``cli:<os user>``, the method, the object before and after,
secrets removed) once it has succeeded.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from lockgate.store.audit_repo import AuditEntry, AuditRepo
from lockgate.store.errors import StoreError
from lockgate.store.repo import Store

from .audit import json_text, redact

log = logging.getLogger("lockgate.audit")

# mutating method -> the getter that reads the object before (by the same first argument)
MUTATIONS: dict[str, str | None] = {
    "create_tenant": None,
    "update_tenant": "get_tenant",
    "delete_tenant": "get_tenant",
    "create_app": None,
    "update_app": "get_app",
    "delete_app": "get_app",
    "create_key": None,
    "rotate_key": "get_key",
    "revoke_key": "get_key",
    "create_admin_key": None,
    "revoke_admin_key": None,
}
# the same for API products and subscriptions (``store.products``, ``lockgate apis|subscriptions``)
PRODUCT_MUTATIONS: dict[str, str | None] = {
    "create_api": None,
    "update_api": "get_api",
    "delete_api": "get_api",
    "add_version": None,
    "update_version": None,
    "delete_version": None,
    "transition": None,
    "request_subscription": None,
    "decide": "get_subscription",
}


def _plain(value: Any) -> Any:
    """A store record as JSON data; a created key as its record, without the secret."""
    if value is None or not is_dataclass(value) or isinstance(value, type):
        return None
    inner = getattr(value, "key", None)
    if getattr(value, "secret", None) is not None and is_dataclass(inner):
        value = inner  # CreatedKey / CreatedAdminKey: keep the key's record, drop the secret
    return redact(orjson.loads(orjson.dumps(asdict(value))))


class _AuditedStore:
    def __init__(
        self,
        inner: Any,
        actor: str,
        audit: AuditRepo | None = None,
        mutations: dict[str, str | None] = MUTATIONS,
    ) -> None:
        self._inner = inner
        self._actor = actor
        self._audit = audit or AuditRepo(inner.engine)
        self._mutations = mutations

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "products" and self._mutations is MUTATIONS:
            return _AuditedStore(attr, self._actor, self._audit, PRODUCT_MUTATIONS)
        if name not in self._mutations:
            return attr
        return self._wrap(name, attr)

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        getter = self._mutations[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            before = None
            if getter is not None and args:
                try:
                    before = _plain(getattr(self._inner, getter)(args[0]))
                except StoreError:
                    before = None
            result = method(*args, **kwargs)
            after = _plain(result)
            tenant = next(
                (o["tenant"] for o in (after, before) if isinstance(o, dict) and "tenant" in o),
                None,
            )
            if tenant is None and name.endswith("_tenant") and args:
                tenant = str(args[0])
            entry = AuditEntry(
                ts=datetime.now(UTC),
                actor_type="admin",
                actor=self._actor,
                action=name,
                tenant=tenant,
                target=str(args[0]) if args else None,
                before=json_text(before),
                after=json_text(after),
                details=json_text({"via": "cli", "arguments": [str(a) for a in args]}),
            )
            try:
                self._audit.append([entry])
            except Exception:
                log.exception("CLI change %s was not audited", name)
            return result

        return call


def audited_store(store: Store) -> Store:
    """``store`` with its identity mutations audited (typed as a ``Store`` for the callers)."""
    return cast(Store, _AuditedStore(store, f"cli:{getpass.getuser()}"))
