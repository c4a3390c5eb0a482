"""Counters in Redis (``state: redis://``): exact across workers and replicas.

Admission is one ``EVALSHA`` per request for all its counters (one per hash-tag group: a
second call only when an IP- or global-scope limit applies alongside tenant ones; if a later
group refuses, the earlier group's reservations are given back). The admissions of requests
that arrive in the same event-loop turn go to Redis together, in one pipeline: each script
still runs atomically on its own, in arrival order, and each request waits for one round trip,
but the client's per-command work is shared. Settlements are queued and sent together, one
pipeline per event-loop turn, off the request's path; a settlement that cannot be sent is kept
and retried, so nothing is billed twice or lost.

When Redis cannot be reached, calls fail fast for ``retry_after`` seconds (no request waits
on a dead socket) with ``StateUnavailable``; each limit's ``on_state_error`` decides what the
request gets. The first call after that probes again: recovery needs nothing from anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from lockgate.limits.counters import (
    NEVER,
    AlertHook,
    Check,
    Decision,
    Outcome,
    StateUnavailable,
)
from lockgate.limits.lua import ADMIT, SETTLE

log = logging.getLogger("lockgate.limits")

MAX_PENDING = 100_000  # settlements kept while Redis is away


@dataclass(frozen=True, slots=True)
class _Settlement:
    check: Check
    actual: float
    now: float
    rid: str
    force: bool = False


class _AdmitBatch:
    """Admission scripts of one event-loop turn, sent as one pipeline (results in order)."""

    __slots__ = ("_client", "_queued", "_script", "_sending")

    def __init__(self, client: Redis, script: Any) -> None:
        self._client = client
        self._script = script
        self._queued: list[tuple[list[str], list[str | float], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references

    def call(self, keys: list[str], args: list[str | float]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._send_queued)
        self._queued.append((keys, args, fut))
        return fut

    def _send_queued(self) -> None:
        batch, self._queued = self._queued, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(
        self, batch: list[tuple[list[str], list[str | float], asyncio.Future[Any]]]
    ) -> None:
        try:
            if len(batch) == 1:  # nothing to share: a plain call costs less than a pipeline
                keys, args, _ = batch[0]
                results: list[Any] = [await self._script(keys=keys, args=args)]
            else:
                pipe = self._client.pipeline(transaction=False)
                for keys, args, _ in batch:
                    await self._script(keys=keys, args=args, client=pipe)
                results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # the connection failed: every caller learns it
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception) else RedisError(str(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, fut), result in zip(batch, results, strict=True):
            if fut.done():  # its request was cancelled meanwhile
                continue
            if isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)


class RedisCounters:
    kind = "redis"

    def __init__(
        self,
        client: Redis,
        *,
        on_alert: AlertHook | None = None,
        retry_after: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._admit = client.register_script(ADMIT)
        self._admits = _AdmitBatch(client, self._admit)
        self._settle = client.register_script(SETTLE)
        self._on_alert = on_alert
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._down_until = 0.0
        self._pending: list[_Settlement] = []
        self._flusher: asyncio.Task[None] | None = None
        self.outages = 0  # times the backend became unreachable
        self.calls = 0  # admission scripts run (one round trip each, shared within a loop turn)

    # --- health ----------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._monotonic() >= self._down_until

    def _down(self, exc: BaseException) -> None:
        if self.available:
            self.outages += 1
            log.error("limit state: Redis unreachable (%s); retrying", type(exc).__name__)
        self._down_until = self._monotonic() + self._retry_after

    # --- admission -------------------------------------------------------------------------

    async def admit(
        self, checks: Sequence[Check], now: float, rid: str, expires_at: float
    ) -> Decision:
        if not self.available:
            raise StateUnavailable("limit state unreachable")
        groups = _groups(checks)
        try:
            return await self._admit_groups(groups, checks, now, rid, expires_at)
        except (RedisError, OSError) as exc:
            self._down(exc)
            raise StateUnavailable("limit state unreachable") from None

    async def _admit_groups(
        self,
        groups: list[list[int]],
        checks: Sequence[Check],
        now: float,
        rid: str,
        expires_at: float,
    ) -> Decision:
        outcomes: list[Outcome | None] = [None] * len(checks)
        admitted_groups: list[list[int]] = []
        refused = False
        for group in groups:
            part = [checks[i] for i in group]
            mode = "peek" if refused else "admit"
            ok, outs = await self._call(part, now, rid, expires_at, mode)
            for i, o in zip(group, outs, strict=True):
                outcomes[i] = o
            if mode == "admit" and ok:
                admitted_groups.append(group)
            elif mode == "admit":
                refused = True
        if refused:
            for group in admitted_groups:  # give back what earlier groups reserved
                for i in group:
                    self._pending.append(_Settlement(checks[i], 0.0, now, rid, force=True))
            self._schedule()
        final = tuple(o for o in outcomes if o is not None)
        return Decision(not refused, final)

    async def _call(
        self, part: Sequence[Check], now: float, rid: str, expires_at: float, mode: str
    ) -> tuple[bool, list[Outcome]]:
        keys: list[str] = []
        args: list[str | float] = [now, rid, expires_at, mode]
        for c in part:
            keys += [c.key, c.key + ":r", c.key + ":a"]
            args += [
                c.spec.rate,
                c.spec.capacity,
                0.0 if mode == "peek" else c.amount,
                c.reset_at,
                "1" if c.tracked else "0",
            ]
        self.calls += 1
        raw = await self._admits.call(keys, args)
        outs = []
        for j in range(len(part)):
            remaining, reset, wait = (float(x) for x in raw[1 + 3 * j : 4 + 3 * j])
            outs.append(Outcome(remaining, reset, NEVER if wait < 0 else wait))
        return int(raw[0]) == 1, outs

    async def peek(self, checks: Sequence[Check], now: float) -> tuple[Outcome, ...]:
        outcomes: list[Outcome | None] = [None] * len(checks)
        try:
            for group in _groups(checks):
                _, outs = await self._call([checks[i] for i in group], now, "-", now, "peek")
                for i, o in zip(group, outs, strict=True):
                    outcomes[i] = o
        except (RedisError, OSError) as exc:
            self._down(exc)
            raise StateUnavailable("limit state unreachable") from None
        return tuple(o for o in outcomes if o is not None)

    # --- settlement ------------------------------------------------------------------------

    def settle(
        self, checks: Sequence[Check], actuals: Sequence[float], now: float, rid: str
    ) -> None:
        for check, actual in zip(checks, actuals, strict=True):
            if check.tracked:
                self._pending.append(_Settlement(check, actual, now, rid))
        if len(self._pending) > MAX_PENDING:
            dropped = len(self._pending) - MAX_PENDING
            del self._pending[:dropped]
            log.error("limit state: %d settlements dropped (Redis away too long)", dropped)
        self._schedule()

    def _schedule(self) -> None:
        if self._pending and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0)  # let this loop turn's other completions join the batch
        while self._pending:
            if not self.available:
                await asyncio.sleep(self._down_until - self._monotonic())
            batch, self._pending = self._pending, []
            try:
                await self._send(batch)
            except (RedisError, OSError) as exc:
                self._down(exc)
                self._pending[:0] = batch

    async def _send(self, batch: list[_Settlement]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for s in batch:
            c, spec = s.check, s.check.spec
            keys = [c.key, c.key + ":r", c.key + ":a", c.key + ":alert:"]
            args: list[str | float] = [
                s.now,
                s.rid,
                spec.rate,
                spec.capacity,
                c.amount,
                s.actual,
                c.reset_at,
                spec.limit,
                "1" if s.force else "0",
            ]
            args += [repr(t) for t in spec.alert_at]
            await self._settle(keys=keys, args=args, client=pipe)
        results = await pipe.execute()
        for s, fired in zip(batch, results, strict=True):
            if len(fired) > 1 and self._on_alert is not None:
                settled = float(fired[0])
                for threshold in fired[1:]:
                    self._on_alert(s.check, float(threshold), settled)

    async def flush(self) -> None:
        """Send every queued settlement now (shutdown, tests)."""
        task = self._flusher
        if task is not None:
            await task
        if self._pending:
            batch, self._pending = self._pending, []
            await self._send(batch)

    async def aclose(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.flush()


def _groups(checks: Sequence[Check]) -> list[list[int]]:
    """Indexes of checks by hash tag, tenant group first, in order of first appearance."""
    order: dict[str, list[int]] = {}
    for i, c in enumerate(checks):
        order.setdefault(c.tag, []).append(i)
    return list(order.values())
