"""Alert webhooks: signed, filtered by event, retried with backoff, never blocking the caller."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator

import orjson
import pytest

from lockgate.alerts import AlertDispatcher, WebhookTarget
from lockgate.alerts.events import event_pattern_known, matches
from lockgate.upstream import UpstreamClient


class Receiver:
    """An HTTP endpoint answering each POST with the next scripted status (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    if b":" in line:
                        k, v = line.split(b":", 1)
                        headers[k.decode().lower()] = v.decode().strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append((headers, body))
                status = self.statuses.pop(0) if self.statuses else 200
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                self.arrived.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    c = UpstreamClient()
    yield c
    await c.aclose()


async def deliver_all(d: AlertDispatcher) -> None:
    await d.aclose(grace=10.0)


async def test_event_is_signed_and_delivered(client: UpstreamClient) -> None:
    rx = Receiver([])
    url = await rx.start()
    d = AlertDispatcher(client, clock=lambda: 1_700_000_000.0)
    d.configure([WebhookTarget(url, ("budget.threshold",), "s3cret")])
    d.emit("budget.threshold", {"limit": "plans.p.limits[0]", "threshold": 0.5})
    await deliver_all(d)
    await rx.close()
    [(headers, body)] = rx.received
    doc = orjson.loads(body)
    assert doc["event"] == "budget.threshold" and doc["data"]["threshold"] == 0.5
    assert doc["time"] == "2023-11-14T22:13:20Z"
    assert headers["x-lockgate-event"] == "budget.threshold"
    ts = headers["x-lockgate-timestamp"]
    mac = hmac.new(b"s3cret", ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["x-lockgate-signature"] == f"sha256={mac}"
    assert (d.delivered, d.failed) == (1, 0)


async def test_only_subscribed_events_are_sent_and_unsigned_without_secret(
    client: UpstreamClient,
) -> None:
    rx = Receiver([])
    url = await rx.start()
    d = AlertDispatcher(client)
    d.configure([WebhookTarget(url, ("circuit.*",), None)])
    d.emit("budget.threshold", {})
    d.emit("circuit.open", {"deployment": "a/b"})
    await deliver_all(d)
    await rx.close()
    [(headers, body)] = rx.received
    assert orjson.loads(body)["event"] == "circuit.open"
    assert "x-lockgate-signature" not in headers


async def test_retries_with_backoff_then_succeeds(client: UpstreamClient) -> None:
    rx = Receiver([503, 500])
    url = await rx.start()
    sleeps = Sleeps()
    d = AlertDispatcher(client, sleep=sleeps, backoff=1.0)
    d.configure([WebhookTarget(url, (), "k")])
    d.emit("budget.threshold", {})
    await deliver_all(d)
    await rx.close()
    assert len(rx.received) == 3 and sleeps.delays == [1.0, 2.0]
    ids = {h["x-lockgate-delivery"] for h, _ in rx.received}
    assert len(ids) == 1  # the same delivery, retried
    assert d.delivered == 1


async def test_a_client_error_is_not_retried_and_unreachable_gives_up(
    client: UpstreamClient,
) -> None:
    rx = Receiver([400])
    url = await rx.start()
    sleeps = Sleeps()
    d = AlertDispatcher(client, sleep=sleeps, attempts=3)
    d.configure([WebhookTarget(url, (), None), WebhookTarget("http://127.0.0.1:9/x", (), None)])
    d.emit("budget.threshold", {})
    await deliver_all(d)
    await rx.close()
    assert len(rx.received) == 1
    assert d.failed == 2 and sleeps.delays == [1.0, 2.0]  # only the unreachable one retried


async def test_a_full_queue_drops_without_blocking(client: UpstreamClient) -> None:
    d = AlertDispatcher(client, queue_size=1, attempts=1)
    d.configure([WebhookTarget("http://127.0.0.1:9/x", (), None)])
    for _ in range(5):
        d.emit("budget.threshold", {})
    assert d.dropped >= 3
    await deliver_all(d)


def test_event_patterns() -> None:
    assert event_pattern_known("budget.threshold") and event_pattern_known("subscription.*")
    assert event_pattern_known("*") and not event_pattern_known("budget.treshold")
    assert not event_pattern_known("nothing.*")
    assert matches("circuit.*", "circuit.close") and not matches("circuit.*", "budget.threshold")
