"""The concurrency gate: capacity, priority order, FIFO within a class, timeouts, cancellation."""

from __future__ import annotations

import asyncio

from lockgate.limits.gate import PriorityGate


async def test_capacity_then_priority_then_fifo() -> None:
    gate = PriorityGate(1)
    assert await gate.acquire(1, 1.0)
    order: list[str] = []

    async def wait(name: str, prio: int) -> None:
        assert await gate.acquire(prio, 10.0)
        order.append(name)

    tasks = [
        asyncio.create_task(wait("low", 2)),
        asyncio.create_task(wait("normal-1", 1)),
        asyncio.create_task(wait("high", 0)),
        asyncio.create_task(wait("normal-2", 1)),
    ]
    await asyncio.sleep(0)
    assert gate.queued == 4
    for _ in range(4):
        gate.release()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["high", "normal-1", "normal-2", "low"]
    assert gate.in_flight == 0


async def test_a_waiter_times_out_and_leaves_the_queue() -> None:
    gate = PriorityGate(1)
    assert await gate.acquire(1, 1.0)
    assert not await gate.acquire(1, 0.01)
    assert gate.queued == 0 and gate.in_flight == 1


async def test_a_cancelled_waiter_gives_back_a_slot_it_was_granted() -> None:
    gate = PriorityGate(1)
    assert await gate.acquire(1, 1.0)
    task = asyncio.create_task(gate.acquire(1, 10.0))
    await asyncio.sleep(0)
    gate.release()  # grants the slot to the waiter...
    task.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(task, return_exceptions=True)
    assert gate.in_flight == 0


async def test_resize_admits_waiters() -> None:
    gate = PriorityGate(1)
    assert await gate.acquire(1, 1.0)
    task = asyncio.create_task(gate.acquire(1, 10.0))
    await asyncio.sleep(0)
    gate.resize(2)
    assert await task and gate.in_flight == 2
