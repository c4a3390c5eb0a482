"""The admin API's door: the key before the body, bounded bodies, strict input, request ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from lockgate.admin import create_admin_app

ROOT = "lga-root-bootstrap-key"  # the bootstrap key of tests/admin/conftest.py


@pytest.fixture
async def small(gateway: Any) -> AsyncIterator[tuple[httpx.AsyncClient, list[int]]]:
    """A client of an admin API capped at 1 KiB, and the body bytes the API was handed."""
    seen: list[int] = []
    admin = create_admin_app(
        store=gateway.store,
        admin_auth=gateway.admin_auth,
        on_identity_change=gateway.on_change,
        max_body_bytes=1024,
    )
    api = admin.app

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        async def counted() -> Any:
            message = await receive()
            seen.append(len(message.get("body", b"")))
            return message

        await api(scope, counted, send)

    admin.app = spy
    app = Starlette(routes=[Mount("/admin/v1", app=admin)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test/admin/v1"
    ) as c:
        yield c, seen


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["x-request-id"].startswith("req_")
    error: dict[str, Any] = r.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    return error


async def test_without_a_key_the_body_is_never_read(
    small: tuple[httpx.AsyncClient, list[int]],
) -> None:
    client, seen = small
    read: list[int] = []

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(100):  # 6.4 MB if the door read it
            read.append(1)
            yield b"x" * 65536

    r = await client.post("/tenants", content=upload())
    assert _error(r, 401)["type"] == "authentication_error"
    assert r.headers["www-authenticate"] == "Bearer"
    assert len(read) <= 1 and seen == []  # the API was never called
    r = await client.post("/tenants", json={"name": "acme"}, headers={"authorization": "Bearer no"})
    _error(r, 401)
    assert (await client.get("/openapi.json")).status_code == 200  # the document stays public


async def test_a_body_past_max_admin_body_bytes_is_413(
    small: tuple[httpx.AsyncClient, list[int]],
) -> None:
    client, seen = small
    auth = {"authorization": f"Bearer {ROOT}"}
    big = {"name": "acme", "attributes": {"x": "y" * 2000}}
    error = _error(await client.post("/tenants", json=big, headers=auth), 413)
    assert "server.max_admin_body_bytes" in error["message"] and "1024" in error["message"]

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(10):
            yield b" " * 200

    _error(await client.post("/tenants", content=chunked(), headers=auth), 413)
    assert seen == []
    r = await client.post("/tenants", json={"name": "acme"}, headers=auth)
    assert r.status_code == 201 and r.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("name", ["ab\n", ".", "..", "a b", "", "x" * 65])
async def test_names_must_match_in_full(client: httpx.AsyncClient, name: str) -> None:
    error = _error(await client.post("/tenants", json={"name": name}), 400)
    assert error["param"] == "name"
    await client.post("/tenants", json={"name": "acme"})
    _error(await client.post("/tenants/acme/apps", json={"name": name}), 400)


async def test_expires_at_must_be_a_future_date_time_string(client: httpx.AsyncClient) -> None:
    await client.post("/tenants", json={"name": "acme"})
    app_id = (await client.post("/tenants/acme/apps", json={"name": "bot"})).json()["id"]
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    error = _error(await client.post(f"/apps/{app_id}/keys", json={"expires_at": past}), 400)
    assert error["param"] == "expires_at" and "past" in error["message"]
    for number in (1_900_000_000, 1_900_000_000_000):
        r = await client.post(f"/apps/{app_id}/keys", json={"expires_at": number})
        assert "ISO 8601" in _error(r, 400)["message"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await client.post(f"/apps/{app_id}/keys", json={"expires_at": future})
    assert r.status_code == 201, r.text
