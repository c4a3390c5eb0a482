"""JWKS by URL: fetched, cached, refreshed on an unknown kid (rate-limited), last good kept."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from jwt_helpers import AUDIENCE, ISSUER, NOW, Keys, token
from lockgate.config.models import JwtIssuer
from lockgate.identity.jwks import KeySource, fetch_url
from lockgate.policies.jwt import JwtAuthenticator


class Served:
    """A fake JWKS endpoint: what it serves, how often it was asked, whether it fails."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.calls = 0
        self.fail = False

    async def __call__(self, url: str) -> bytes:
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return orjson.dumps(self.doc)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def old() -> Keys:
    return Keys.make("1")


@pytest.fixture(scope="module")
def new() -> Keys:
    return Keys.make("2")


async def test_fetched_once_then_cached(old: Keys) -> None:
    served, clock = Served(old.public()), Clock()
    source = KeySource(url="https://idp/jwks", fetch=served, clock=clock)
    assert (await source.key_set("rsa1")) is not None
    await source.key_set("rsa1")
    assert served.calls == 1


async def test_unknown_kid_refreshes_at_most_once_per_interval(old: Keys, new: Keys) -> None:
    served, clock = Served(old.public()), Clock()
    source = KeySource(url="u", fetch=served, clock=clock, min_interval=30)
    await source.key_set("rsa1")
    served.doc = new.public()  # the provider rotated its keys
    clock.now += 31
    keys = await source.key_set("rsa2")
    assert served.calls == 2 and keys is not None and keys.get_by_kid("rsa2")
    for _ in range(5):  # made-up kids do not hammer the provider
        await source.key_set("made-up")
    assert served.calls == 2  # the last refresh was just now: rate-limited
    clock.now += 31
    await source.key_set("made-up")
    await source.key_set("made-up")
    assert served.calls == 3


async def test_a_failed_fetch_keeps_the_last_good_set(old: Keys) -> None:
    served, clock = Served(old.public()), Clock()
    source = KeySource(url="u", fetch=served, clock=clock, ttl=60, min_interval=1)
    await source.key_set("rsa1")
    served.fail = True
    clock.now += 120  # past the TTL: a background refresh fails
    assert (await source.key_set("rsa1")) is not None
    await asyncio.sleep(0)  # let the background refresh run
    await asyncio.sleep(0)
    assert served.calls == 2
    keys = await source.key_set("rsa1")
    assert keys is not None and keys.get_by_kid("rsa1")
    await source.aclose()


async def test_a_first_fetch_that_fails_means_401_not_500(old: Keys) -> None:
    served = Served(old.public())
    served.fail = True
    cfg = JwtIssuer.model_validate(
        {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": "https://idp/jwks"}
    )
    auth = JwtAuthenticator([cfg], clock=lambda: NOW, fetch=served)
    with pytest.raises(Exception, match="keys are unavailable"):
        await auth.authenticate(token(old), lambda t, a: None, 1)


@pytest.fixture
def jwks_server(old: Keys) -> Iterator[str]:
    body = orjson.dumps(old.public())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


async def test_fetch_over_http(jwks_server: str, old: Keys) -> None:
    doc = orjson.loads(await fetch_url(jwks_server))
    assert {k["kid"] for k in doc["keys"]} == {"rsa1", "ec1", "okp1"}
    source = KeySource(url=jwks_server)
    keys = await source.key_set("ec1")
    assert keys is not None and keys.get_by_kid("ec1")
