"""The usage writer: a slow or stopped store never blocks requests and loses nothing it kept."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from lockgate.pipeline.context import RequestContext
from lockgate.store.usage_repo import PayloadRow, UsageRow
from lockgate.usage.record import Expanded
from lockgate.usage.writer import UsageQueue, UsageWriter


def ctx(n: int) -> RequestContext:
    c = RequestContext(
        request_id=f"req_{n}",
        route="chat",
        ingress="openai",
        headers=[],
        client_ip="127.0.0.1",
        runtime=None,  # type: ignore[arg-type]
        started=100.0,
        received_at=1_790_000_000.0 + n,
    )
    c.finished_at = 100.5
    c.status = 200
    return c


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[str, UsageRow] = {}
        self.down = False
        self.gate: threading.Event | None = None
        self.calls = 0

    def write(self, rows: Sequence[UsageRow], payloads: Sequence[PayloadRow], retry: bool) -> int:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.down:
            raise ConnectionError("store stopped")
        new = [r for r in rows if r.request_id not in self.rows]
        self.rows.update((r.request_id, r) for r in new)
        return len(new)


class Collect:
    def __init__(self) -> None:
        self.seen: list[Expanded] = []

    def consume(self, batch: Sequence[Expanded]) -> None:
        self.seen.extend(batch)


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


def writer(store: FakeStore, capacity: int = 1000, **kw: Any) -> tuple[UsageQueue, UsageWriter]:
    q = UsageQueue(capacity, batch_size=10)
    return q, UsageWriter(q, store.write, max_pending=capacity, sleep=no_sleep, **kw)


async def test_records_are_written_in_batches_and_seen_by_sinks() -> None:
    store = FakeStore()
    sink = Collect()
    q, w = writer(store, sinks=[sink])
    for n in range(25):
        q(ctx(n))
    await w.flush()
    assert len(store.rows) == 25 and store.calls == 3  # batches of 10
    assert len(sink.seen) == 25 and w.written == w.kept == 25
    row = store.rows["req_3"]
    assert row.latency_ms == 500.0 and row.status == 200 and row.usage_source is None


async def test_a_stopped_store_keeps_records_pending_and_recovers() -> None:
    store = FakeStore()
    store.down = True
    q, w = writer(store)
    w.start()
    try:
        for n in range(50):
            q(ctx(n))  # the recorder returns at once whatever the store does
        w.pump()
        await asyncio.sleep(0.05)
        assert store.rows == {} and w.backlog == 50 and w.failures >= 1
        store.down = False
        await w.flush()
        assert len(store.rows) == 50 and w.backlog == 0 and w.total_dropped == 0
    finally:
        await w.stop(grace=1)


async def test_a_full_backlog_drops_and_counts_but_loses_nothing_it_kept() -> None:
    store = FakeStore()
    store.down = True
    q, w = writer(store, capacity=100)
    for n in range(150):
        q(ctx(n))  # the hot-path queue holds 100: 50 dropped and counted there
    assert q.dropped == 50
    w.pump()
    for n in range(150, 180):
        q(ctx(n))
    w.pump()  # the backlog holds 100: these 30 are dropped and counted too
    assert w.kept == 100 and w.dropped == 30 and w.total_dropped == 80
    store.down = False
    await w.flush()
    assert len(store.rows) == w.kept == w.written == 100


async def test_a_slow_store_never_blocks_the_recorder() -> None:
    store = FakeStore()
    store.gate = threading.Event()
    q, w = writer(store)
    w.start()
    try:
        q(ctx(0))
        w.pump()
        await asyncio.sleep(0.05)  # the flush task is now stuck in the store
        assert store.calls == 1 and not store.gate.is_set()
        for n in range(1, 500):
            q(ctx(n))  # synchronous: it returns while the store is still stuck
        assert len(q) == 499 and len(store.rows) == 0
        store.gate.set()
        await w.flush()
        assert len(store.rows) == 500
    finally:
        store.gate.set()
        await w.stop(grace=1)


async def test_shutdown_writes_what_is_pending() -> None:
    store = FakeStore()
    q, w = writer(store)
    w.start()
    for n in range(7):
        q(ctx(n))
    await w.stop(grace=5)
    assert len(store.rows) == 7
