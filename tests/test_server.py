"""``lockgate serve``: bind before the banner; server.limits reach the lean server."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockgate.cli import main
from lockgate.config.loader import load_config_text
from lockgate.config.models import ServerLimitsConfig
from lockgate.server import server_limits
from lockgate.serving import ServerLimits


def test_a_port_in_use_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOCKGATE_ADMIN_KEY", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "Lockgate on" not in result.output  # no banner for a server that never ran


def test_every_server_limit_is_a_config_key_and_reaches_the_server() -> None:
    fields = {f.name for f in dataclasses.fields(ServerLimits)}
    assert fields == set(ServerLimitsConfig.model_fields)
    cfg = load_config_text(
        "version: 1\n"
        "server:\n"
        "  limits: {max_header_bytes: 32k, max_headers: 50, header_timeout: 2s,\n"
        "           body_timeout: 3s, keepalive_timeout: 4s, send_timeout: 5s,\n"
        "           max_requests_per_connection: 7, max_connections: 8,\n"
        "           max_connections_per_ip: 9, max_in_flight: 10, max_loop_lag: 250ms,\n"
        "           retry_after: 2}\n",
        env={},
    )
    limits = server_limits(cfg.server)
    assert limits == ServerLimits(
        max_header_bytes=32_000,
        max_headers=50,
        header_timeout=2.0,
        body_timeout=3.0,
        keepalive_timeout=4.0,
        send_timeout=5.0,
        max_requests_per_connection=7,
        max_connections=8,
        max_connections_per_ip=9,
        max_in_flight=10,
        max_loop_lag=0.25,
        retry_after=2,
    )
    assert server_limits(load_config_text("version: 1\n", env={}).server) == ServerLimits()


def test_server_upstream_sizes_the_gateways_upstream_client(tmp_path: Path) -> None:
    from lockgate.app import Gateway
    from lockgate.upstream.pool import PoolLimits

    cfg = load_config_text(
        "version: 1\n"
        f"storage: sqlite:///{tmp_path / 'u.db'}\n"
        "server:\n"
        "  upstream: {pool_size: 3, max_idle: 2, idle_ttl: 7s, max_stream_bytes: 1M,\n"
        "             max_event_bytes: 64k}\n",
        env={},
    )
    client = Gateway(cfg).upstream
    assert client._limits == PoolLimits(3, 2, 7.0, 64 * 1024)
    assert client._stream_limits == (1_000_000, 64_000)
