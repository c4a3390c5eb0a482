"""Every admin mutation in the audit log, from one ASGI wrapper around the admin API.

For each POST/PUT/PATCH/DELETE the wrapper records who (the admin key's id, role and tenant),
what (the route's handler name, the path, the request body), the object before (read from the
store for tenants, apps and keys; for other paths, from a GET of the same path) and after (the
response body), and when. Secrets (the key a create returns) are removed. The entry is appended
before the answer leaves, so a mutation the client saw succeed is in the log. Refusals of
authenticated callers (403) and unknown admin keys (401) are recorded too; other failures
(validation, 404, 409) changed nothing and are not.

Routes added later need nothing: the wrapper sees every mutation of the mounted app.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import orjson

from lockgate.identity.principal import AdminPrincipal, scope_admin
from lockgate.ingress.http import Message, Receive, Scope, Send
from lockgate.store.audit_repo import AuditEntry
from lockgate.store.errors import StoreError
from lockgate.store.repo import Store

from .audit import AuditLog, json_text, redact

log = logging.getLogger("lockgate.audit")

MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_CAPTURE = 64 * 1024
_TENANT = re.compile(r"^/tenants/([^/]+)$")
_APP = re.compile(r"^/apps/([^/]+)$")
_KEY = re.compile(r"^/keys/([^/]+)(?:/[a-z-]+)?$")


class AdminAudit:
    def __init__(
        self,
        app: Any,
        audit: AuditLog,
        admin_auth: Callable[[str], AdminPrincipal | None],
        store: Store,
    ) -> None:
        self.app = app
        self.audit = audit
        self.admin_auth = admin_auth
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)  # the wrapped FastAPI app's openapi(), routes, ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATIONS:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path = _relative(scope)
        caller = self._caller(scope)
        before = await self._before(method, path, scope) if caller is not None else None
        body = bytearray()

        async def tee() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < MAX_CAPTURE:
                body.extend(message.get("body", b"")[: MAX_CAPTURE - len(body)])
            return message

        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, tee, hold)
        finally:
            status = next((m["status"] for m in held if m["type"] == "http.response.start"), 500)
            if _audited(status):
                entry = self._entry(scope, method, path, caller, status, before, body, held)
                try:
                    await self.audit.append([entry])
                except Exception:
                    log.exception("admin action %s %s was not audited", method, path)
            for message in held:
                await send(message)

    def _caller(self, scope: Scope) -> AdminPrincipal | None:
        internal = scope_admin(scope)
        if internal is not None:
            return internal  # the web console, in-process, for its signed-in key
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    return self.admin_auth(token.strip())
        return None

    async def _before(self, method: str, path: str, scope: Scope) -> Any:
        if method == "POST" and not _KEY.match(path):
            return None  # a create: nothing before (key rotation excepted)
        for pattern, read in (
            (_TENANT, self.store.get_tenant),
            (_APP, self.store.get_app),
            (_KEY, self.store.get_key),
        ):
            m = pattern.match(path)
            if m:
                try:
                    record = await asyncio.to_thread(read, m.group(1))
                except StoreError:
                    return None
                return orjson.loads(orjson.dumps(asdict(record)))  # type: ignore[call-overload]
        return await self._get(scope)

    async def _get(self, scope: Scope) -> Any:
        """The object at this path as a GET by the same caller shows it, if there is one."""
        sub = {**scope, "method": "GET", "query_string": b""}
        sent: list[Message] = []

        async def nothing() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def keep(message: Message) -> None:
            sent.append(message)

        await self.app(sub, nothing, keep)
        if not sent or sent[0].get("status") != 200:
            return None
        return _json(b"".join(m.get("body", b"") for m in sent[1:]))

    def _entry(
        self,
        scope: Scope,
        method: str,
        path: str,
        caller: AdminPrincipal | None,
        status: int,
        before: Any,
        body: bytearray,
        held: list[Message],
    ) -> AuditEntry:
        after = None
        if status < 300 and method != "DELETE":
            after = redact(_json(b"".join(m.get("body", b"") for m in held[1:])))
        endpoint = scope.get("endpoint")
        action = getattr(endpoint, "__name__", None) or f"{method.lower()} {path}"
        if status >= 400:
            action = "denied"
        details: dict[str, Any] = {"method": method, "path": path}
        request = redact(_json(bytes(body)))
        if request is not None:
            details["request"] = request
        return AuditEntry(
            ts=datetime.now(UTC),
            actor_type="admin",
            actor=caller.key_id if caller is not None else "unknown-key",
            role=caller.role if caller is not None else None,
            tenant=_tenant(path, before, after, caller),
            action=action[:64],
            target=path[:512],
            status=status,
            before=json_text(before),
            after=json_text(after),
            details=json_text(details),
        )


def _audited(status: int) -> bool:
    return status < 400 or status in (401, 403)


def _relative(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _tenant(path: str, before: Any, after: Any, caller: AdminPrincipal | None) -> str | None:
    for obj in (after, before):
        if isinstance(obj, dict):
            if isinstance(obj.get("tenant"), str):
                return str(obj["tenant"])
            if path.startswith("/tenants") and isinstance(obj.get("name"), str):
                return str(obj["name"])
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "tenants":
        return parts[2]
    return caller.tenant if caller is not None else None
