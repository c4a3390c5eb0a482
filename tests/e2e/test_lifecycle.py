"""Process-level behaviour: disconnects, draining on SIGTERM, hot reload, key revocation."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from harness import ADMIN_KEY, Env, admin, gateway_config, make_key, start_gateway, start_mock


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def send_and_hang_up(e2e: Env, body: bytes, started: Callable[[], bool]) -> None:
    """POST ``body`` on a raw connection and close it once ``started()`` holds."""
    with socket.create_connection(("127.0.0.1", e2e.gateway.port)) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {e2e.key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        wait_for(started, what="the upstream request")


def check_disconnect_mid_stream(e2e: Env) -> None:
    httpx.post(e2e.mock.base + "/_mock/reset")
    body = (
        b'{"model":"m-openai","stream":true,"messages":[{"role":"user","content":"[[mock:hang]]"}]}'
    )
    # The mock sends its first chunk and stalls: the gateway waits for the first token.
    send_and_hang_up(e2e, body, lambda: e2e.mock_stats()["open_streams"] == 1)
    wait_for(lambda: e2e.mock_stats()["streams_cancelled"] == 1, what="upstream cancellation")
    assert e2e.mock_stats()["open_streams"] == 0


def check_disconnect_during_a_plain_call(e2e: Env) -> None:
    httpx.post(e2e.mock.base + "/_mock/reset")
    body = b'{"model":"m-openai","messages":[{"role":"user","content":"[[mock:hang]]"}]}'
    send_and_hang_up(e2e, body, lambda: e2e.mock_stats()["hangs_open"] == 1)
    wait_for(lambda: e2e.mock_stats()["hangs_released"] == 1, what="upstream cancellation")
    assert e2e.mock_stats()["hangs_open"] == 0


def test_client_disconnect_mid_stream_closes_upstream(e2e: Env) -> None:
    check_disconnect_mid_stream(e2e)


def test_client_disconnect_during_a_plain_call_closes_upstream(e2e: Env) -> None:
    check_disconnect_during_a_plain_call(e2e)


def test_client_disconnect_closes_upstream_under_uvicorn(tmp_path: Path) -> None:
    """Under another ASGI server the data plane watches receive() for the disconnect."""
    mock = start_mock(tmp_path)
    cfg = gateway_config(mock.base, tmp_path / "uv.db")
    gateway, _ = start_gateway(tmp_path, cfg, "--server", "uvicorn")
    try:
        env = Env(mock, gateway, make_key(gateway.base, "acme", "bot"), tmp_path)
        check_disconnect_mid_stream(env)
        check_disconnect_during_a_plain_call(env)
        assert "Uvicorn running" in gateway.output()
    finally:
        gateway.stop()
        mock.stop()


def test_sigterm_drains_in_flight_stream(tmp_path: Path) -> None:
    mock = start_mock(tmp_path, "--tokens-per-s", "12")
    gateway, _ = start_gateway(tmp_path, gateway_config(mock.base, tmp_path / "drain.db"))
    try:
        key = make_key(gateway.base, "t", "a")
        c = openai.OpenAI(base_url=gateway.base + "/v1", api_key=key, max_retries=0)
        got: list[str] = []
        started = threading.Event()

        def consume() -> None:
            stream = c.chat.completions.create(
                model="m-openai",
                stream=True,
                messages=[{"role": "user", "content": "one two three four five six"}],
            )
            for chunk in stream:
                started.set()
                if chunk.choices:
                    got.append(chunk.choices[0].delta.content or "")

        t = threading.Thread(target=consume)
        t.start()
        assert started.wait(10)
        gateway.signal(signal.SIGTERM)
        t.join(20)
        assert "".join(got) == "Mock reply to: one two three four five six"
        # uvicorn re-raises SIGTERM after draining, the conventional exit for a signalled process
        assert gateway.proc.wait(20) in (0, -signal.SIGTERM)
        assert "Finished server process" in gateway.output()
    finally:
        gateway.stop()
        mock.stop()


def test_hot_reload_valid_and_invalid(tmp_path: Path) -> None:
    mock = start_mock(tmp_path)
    text = gateway_config(mock.base, tmp_path / "reload.db")
    gateway, cfg = start_gateway(tmp_path, text)
    try:
        key = make_key(gateway.base, "t", "a")
        c = openai.OpenAI(base_url=gateway.base + "/v1", api_key=key, max_retries=0)
        assert "m-new" not in {m.id for m in c.models.list()}
        cfg.write_text(
            text.replace("plans:", "  m-new: {deployments: [{provider: demo, model: d}]}\nplans:")
        )
        gateway.signal(signal.SIGHUP)
        wait_for(lambda: "m-new" in {m.id for m in c.models.list()}, what="the new model")
        assert (
            c.chat.completions.create(
                model="m-new", messages=[{"role": "user", "content": "fresh"}]
            )
            .choices[0]
            .message.content
            == "Mock reply to: fresh"
        )
        cfg.write_text(
            text.replace(
                "models:", "models:\n  broken: {deployments: [{provider: nobody, model: x}]}", 1
            )
        )
        gateway.signal(signal.SIGHUP)
        wait_for(lambda: "rejected" in gateway.output(), what="the rejection log line")
        assert "m-new" in {m.id for m in c.models.list()}
        assert "unknown provider 'nobody'" in gateway.output()
    finally:
        gateway.stop()
        mock.stop()


def test_revoked_key_stops_working_at_once(e2e: Env) -> None:
    key = make_key(e2e.base, "revoke-co", "app")
    c = openai.OpenAI(base_url=e2e.base + "/v1", api_key=key, max_retries=0)
    assert c.models.list().data
    with admin(e2e.base) as a:
        app_id = a.get("/tenants/revoke-co/apps").json()["data"][0]["id"]
        key_id = a.get(f"/apps/{app_id}/keys").json()["data"][0]["id"]
        assert a.delete(f"/keys/{key_id}").status_code in (200, 204)
    with pytest.raises(openai.AuthenticationError):
        c.models.list()


def test_admin_requires_admin_key(e2e: Env) -> None:
    assert httpx.get(e2e.base + "/admin/v1/tenants").status_code == 401
    assert (
        httpx.get(
            e2e.base + "/admin/v1/tenants", headers={"authorization": f"Bearer {e2e.key}"}
        ).status_code
        == 401
    )
    r = httpx.get(e2e.base + "/admin/v1/tenants", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200
    assert httpx.get(e2e.base + "/readyz").json()["status"] == "ready"
    assert httpx.get(e2e.base + "/admin/v1/openapi.json").json()["openapi"].startswith("3.")
