"""Breakers shared through Redis: every replica and worker sees one state per breaker.

Nothing here is on the request path. Requests record outcomes in the local breaker (a counter
increment); a background task reports the counts since its last report to Redis in one
``EVALSHA`` for all breakers, every ``interval`` (0.5 s) and at once after a failure, and
adopts the state the script returns. The script keeps, per breaker, one hash with the state,
the time the open period ends (wall clock, seconds) and the rolling window's buckets
(``o<epoch>`` / ``f<epoch>`` fields), and makes the transitions: closed → open when the shared
window trips, open → half-open when the time is up, half-open → closed after ``probes``
successful probes (from any replica), half-open → open on a failed probe. It returns which
transition the report caused, so exactly one replica announces it.

Every key carries the ``{lockgate-breakers}`` hash tag, so the script runs unchanged on Redis
Cluster. When Redis cannot be reached the breakers keep working on local counts, the outage is
logged once, and reports resume when it is back (outcomes are kept meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from lockgate.routing.breaker import (
    CLOSED,
    OPEN,
    Breaker,
    BreakerBook,
    BreakerState,
    Transition,
)

log = logging.getLogger("lockgate.routing")

PREFIX = "lockgate:{lockgate-breakers}:"
INTERVAL = 0.5  # seconds between reports while nothing fails
MIN_GAP = 0.05  # a failure storm is reported in batches at most this often
FIELDS = 8  # ARGV values per breaker after ``now``

# KEYS: one hash per breaker. ARGV[1] = now (wall seconds), then per key: ok, fail, bucket
# width (s), buckets, min_requests, error_rate, open_for (s), probes.
# Returns per key: state, open-until (string), transition ("open" / "close" / ""), window
# requests, window failures (the last two only when a failure was checked).
SCRIPT = """
local now = tonumber(ARGV[1])
local out = {}
local a = 2
for i, key in ipairs(KEYS) do
  local ok, fail = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local width, n = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local minreq, rate = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local openfor, probes = tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
  a = a + 8
  local ttl = math.floor((2 * width * n + 2 * openfor + 60) * 1000)
  local h = redis.call('HMGET', key, 'state', 'until', 'hok')
  local state = h[1] or 'closed'
  local untilv = tonumber(h[2]) or 0
  local hok = tonumber(h[3]) or 0
  local moved, total, fails, dirty = '', 0, 0, false
  if state == 'open' and now >= untilv then
    state, hok, dirty = 'half_open', 0, true
  end
  if state == 'closed' and (ok > 0 or fail > 0) then
    local epoch = math.floor(now / width)
    local first = epoch - n + 1
    if tonumber(redis.call('HGET', key, 'lo') or first) < first then
      for _, f in ipairs(redis.call('HKEYS', key)) do
        local e = tonumber(string.sub(f, 2))
        local c = string.sub(f, 1, 1)
        if e and (c == 'o' or c == 'f') and e < first then redis.call('HDEL', key, f) end
      end
    end
    redis.call('HSET', key, 'lo', first)
    redis.call('HINCRBY', key, 'o' .. epoch, ok)
    redis.call('HINCRBY', key, 'f' .. epoch, fail)
    if fail > 0 then
      for e = first, epoch do
        local v = redis.call('HMGET', key, 'o' .. e, 'f' .. e)
        local o, f = tonumber(v[1]) or 0, tonumber(v[2]) or 0
        total, fails = total + o + f, fails + f
      end
      if total >= minreq and fails >= rate * total then
        redis.call('DEL', key)
        state, untilv, hok, moved, dirty = 'open', now + openfor, 0, 'open', true
      end
    end
    redis.call('PEXPIRE', key, ttl)
  elseif state == 'half_open' and fail > 0 then
    state, untilv, hok, moved, dirty = 'open', now + openfor, 0, 'open', true
  elseif state == 'half_open' and ok > 0 then
    hok, dirty = hok + ok, true
    if hok >= probes then
      redis.call('DEL', key)
      state, hok, moved = 'closed', 0, 'close'
    end
  end
  if dirty then
    redis.call('HSET', key, 'state', state, 'until', tostring(untilv), 'hok', hok)
    redis.call('PEXPIRE', key, ttl)
  end
  table.insert(out, state)
  table.insert(out, tostring(untilv))
  table.insert(out, moved)
  table.insert(out, total)
  table.insert(out, fails)
end
return out
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class BreakerSync:
    """Reports local outcomes to Redis and adopts the shared state, for one process."""

    def __init__(
        self,
        client: Any,  # redis.asyncio.Redis
        book: BreakerBook,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        prefix: str = PREFIX,
        interval: float = INTERVAL,
    ) -> None:
        self._client = client
        self._book = book
        self._clock = clock
        self._wall = wall
        self._prefix = prefix
        self._interval = interval
        self._script = client.register_script(SCRIPT)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.reports = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="lockgate-breaker-sync"
            )

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as its timeout fires, and aclose() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: local breakers go on; say it once
                if not self._failing:
                    log.error("circuit breakers: cannot reach Redis (%s)", type(exc).__name__)
                self._failing = True
                await asyncio.sleep(self._interval)
                continue
            if self._failing:
                log.warning("circuit breakers: Redis reachable again; state is shared again")
                self._failing = False
            await asyncio.sleep(MIN_GAP)

    async def sync_now(self) -> list[Transition]:
        """One report of every breaker; returns the transitions this report caused (each
        announced here)."""
        breakers = list(self._book)
        if not breakers:
            return []
        counts = [(b.pending_ok, b.pending_fail) for b in breakers]
        for b in breakers:
            b.pending_ok = b.pending_fail = 0
        wall = self._wall()
        args: list[Any] = [repr(wall)]
        for b, (ok, fail) in zip(breakers, counts, strict=True):
            cfg = b.cfg
            width = cfg.window / b.window.buckets
            args += [ok, fail, repr(width), b.window.buckets, cfg.min_requests]
            args += [repr(cfg.error_rate), repr(cfg.open_for), cfg.probes]
        keys = [f"{self._prefix}{b.model}|{b.deployment}" for b in breakers]
        try:
            result = await self._script(keys=keys, args=args)
        except BaseException:
            for b, (ok, fail) in zip(breakers, counts, strict=True):  # keep them for later
                b.pending_ok += ok
                b.pending_fail += fail
            raise
        self.reports += 1
        return self._adopt(breakers, result, wall)

    def _adopt(self, breakers: list[Breaker], result: list[Any], wall: float) -> list[Transition]:
        now = self._clock()
        moved: list[Transition] = []
        for i, b in enumerate(breakers):
            state = BreakerState(_text(result[5 * i]))
            until = float(_text(result[5 * i + 1]))
            self._book.adopt(b, state, now + (until - wall))
            change = _text(result[5 * i + 2])
            if change:
                moved.append(_transition(b, change, int(result[5 * i + 3]), int(result[5 * i + 4])))
        for t in moved:
            self._book.announce(t)
        return moved


def _transition(b: Breaker, change: str, requests: int, failures: int) -> Transition:
    cfg = b.cfg
    if change == "open":
        if requests:
            reason = (
                f"{failures} of {requests} attempts failed within {cfg.window:g} s across "
                f"replicas (error_rate {cfg.error_rate:g}, min_requests {cfg.min_requests})"
            )
        else:
            reason = "a half-open probe failed"
        return Transition(b.model, b.deployment, OPEN, reason, requests, failures, cfg.open_for)
    return Transition(b.model, b.deployment, CLOSED, f"{cfg.probes} half-open probe(s) succeeded")
