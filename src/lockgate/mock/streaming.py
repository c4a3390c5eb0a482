"""Sending a precomputed stream on time, and telling a finished stream from an abandoned one."""

from __future__ import annotations

import asyncio

from lockgate.mock.base import Receive, Send, StreamPlan
from lockgate.mock.engine import MockBehaviour
from lockgate.mock.stats import MockStats


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def run_stream(
    stats: MockStats,
    behaviour: MockBehaviour,
    receive: Receive,
    send: Send,
    plan: StreamPlan,
    hang: bool,
    cut: int | None = None,
    stall: int | None = None,
) -> None:
    """Send ``plan`` while watching ``receive()`` for the client leaving.

    uvicorn drops writes after a disconnect silently, so the only reliable signal is
    ``http.disconnect`` from ``receive()``; whichever finishes first decides the count.
    The request body must have been read already. With ``cut``, the stream breaks after that
    many tokens: the app raises, and the server drops the connection mid-body. With ``stall``,
    it sends that many tokens and then waits for the client to leave.
    """
    stats.streams_started += 1
    stats.open_streams += 1
    producer = asyncio.ensure_future(_produce(behaviour, send, plan, hang, cut, stall))
    watcher = asyncio.ensure_future(until_disconnect(receive))
    completed = False
    try:
        await asyncio.wait((producer, watcher), return_when=asyncio.FIRST_COMPLETED)
        if producer.done():
            producer.result()  # re-raise a failure of our own
            completed = True
    except OSError:
        pass  # the transport broke mid-stream: the client is gone
    finally:
        producer.cancel()
        watcher.cancel()
        stats.open_streams -= 1
        if completed:
            stats.streams_completed += 1
        else:
            stats.streams_cancelled += 1


class StreamCut(Exception):
    """A ``[[mock:cut=N]]`` stream breaking on purpose."""


async def _produce(
    behaviour: MockBehaviour,
    send: Send,
    plan: StreamPlan,
    hang: bool,
    cut: int | None,
    stall: int | None = None,
) -> None:
    start = [(b"content-type", plan.content_type), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": start})
    if hang:
        for piece in (plan.head or plan.tokens or plan.tail)[:1]:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await asyncio.Event().wait()  # until the watcher sees the client leave
    for piece in plan.head:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    if plan.tokens and behaviour.ttft_ms > 0:
        await asyncio.sleep(behaviour.ttft_ms / 1000)
    gap = 1.0 / behaviour.tokens_per_s if behaviour.tokens_per_s > 0 else 0.0
    for i, piece in enumerate(plan.tokens):
        if cut is not None and i >= cut:
            raise StreamCut(f"stream cut after {cut} token(s) by a mock directive")
        if stall is not None and i >= stall:
            await asyncio.Event().wait()  # until the watcher sees the client leave
        if gap and i:
            await asyncio.sleep(gap)
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    for piece in plan.tail:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
