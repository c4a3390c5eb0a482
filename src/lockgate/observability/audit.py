"""The audit service: what the admin API changed, which requests policies denied, and what
guards did (blocks, redactions, repairs, flags).

Admin mutations are appended by ``AdminAudit`` (``admin_audit.py``) before their answer is
sent. Policy denials reach ``consume`` with the usage batches (a request answered 4xx by a
policy) and are appended in the background, in batches; a store that fails keeps them pending
(bounded) and retries, like the usage writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from lockgate.store.audit_repo import AuditEntry, AuditRepo
from lockgate.usage.record import Expanded

log = logging.getLogger("lockgate.audit")

MAX_PENDING = 50_000
SECRET_FIELDS = frozenset({"key", "secret", "hash", "api_key", "token", "password"})


def redact(value: Any) -> Any:
    """A JSON value with every secret-bearing field removed (the key a create returns)."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def denial_entry(e: Expanded) -> AuditEntry:
    r = e.row
    details = {
        "status": r.status,
        "code": r.error_type,
        "message": e.error_message,
        "route": r.route,
        "model": r.model,
        "app": r.app_id,
        "key": r.key_id,
        "client_ip": e.client_ip or None,
    }
    return AuditEntry(
        ts=r.ts,
        actor_type="policy",
        actor=r.decided_by or "-",
        action="request.denied",
        tenant=r.tenant,
        target=r.route,
        status=r.status,
        request_id=r.request_id,
        details=json_text({k: v for k, v in details.items() if v is not None}),
    )


def guard_entries(e: Expanded) -> list[AuditEntry]:
    """One entry per guard decision of a call (block, redact, repair, flag): the policy, the
    guard, the side and the entity types with their counts, never the matched text."""
    r = e.row
    return [
        AuditEntry(
            ts=r.ts,
            actor_type="policy",
            actor=d.policy,
            action=f"guard.{d.action}",
            tenant=r.tenant,
            target=r.route,
            status=r.status,
            request_id=r.request_id,
            details=json_text({**d.as_dict(), "model": r.model, "app": r.app_id}),
        )
        for d in e.guards
    ]


class AuditLog:
    def __init__(
        self, repo: AuditRepo, *, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    ) -> None:
        self.repo = repo
        self._sleep = sleep
        self._pending: list[AuditEntry] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    async def append(self, entries: Sequence[AuditEntry]) -> list[int]:
        return await asyncio.to_thread(self.repo.append, list(entries))

    # --- policy denials, from the usage pump ------------------------------------------------

    def consume(self, batch: Sequence[Expanded]) -> None:
        denied = [
            denial_entry(e)
            for e in batch
            if e.row.decided_by is not None and 400 <= e.row.status < 500
        ]
        for e in batch:
            if e.guards:
                denied += guard_entries(e)
        if not denied:
            return
        room = MAX_PENDING - len(self._pending)
        if len(denied) > room:
            self.dropped += len(denied) - room
            log.error("audit backlog full: %d policy decisions not audited", len(denied) - room)
            denied = denied[:room]
        self._pending.extend(denied)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._flush(), name="lockgate-audit"
            )

    async def _flush(self) -> None:
        delay = 0.25
        while self._pending:
            batch = self._pending[:1000]
            try:
                await self.append(batch)
            except Exception as exc:
                log.error("audit append failed (%s); retrying", type(exc).__name__)
                await self._sleep(delay)
                delay = min(30.0, delay * 2)
                continue
            del self._pending[: len(batch)]
            delay = 0.25

    async def flush(self, grace: float = 10.0) -> None:
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._pending:
            log.error("%d policy decisions were not audited (the store failed)", len(self._pending))
