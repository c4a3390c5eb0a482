"""HTTPS against a local TLS server with a self-signed certificate made for the test."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from upstream_server import FAST, RawServer, answer

from lockgate.errors import UpstreamConnectError
from lockgate.upstream import UpstreamClient, UpstreamRequest


def make_cert(d: Path, san: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make a self-signed certificate")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(crt), "-subj", "/CN=lockgate-test"),
            *("-addext", f"subjectAltName={san}"),
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"), "DNS:localhost,IP:127.0.0.1")


@pytest.fixture(scope="module")
def other_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls-other"), "DNS:other.example")


async def start_tls(cert: tuple[Path, Path], names: list[str]) -> RawServer:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)

    def on_sni(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        names.append(name or "")

    ctx.sni_callback = on_sni
    return await RawServer(answer()).start(ssl=ctx)


@pytest.fixture
async def tls_server(cert: tuple[Path, Path]) -> AsyncIterator[tuple[RawServer, list[str]]]:
    names: list[str] = []
    server = await start_tls(cert, names)
    yield server, names
    await server.close()


async def test_https_with_sni_verification_and_reuse(
    cert: tuple[Path, Path], tls_server: tuple[RawServer, list[str]]
) -> None:
    server, names = tls_server
    client = UpstreamClient(ssl_context=ssl.create_default_context(cafile=str(cert[0])))
    try:
        for _ in range(3):
            req = UpstreamRequest("GET", f"https://localhost:{server.port}/v1/models", [])
            resp = await client.send(req, FAST)
            assert (resp.status, await resp.read()) == (200, b"ok")
        assert names == ["localhost"]
        assert server.connections == 1
        assert b"Host: localhost:%d\r\n" % server.port in server.requests[0]
    finally:
        await client.aclose()


async def test_untrusted_certificate_is_a_connect_error(
    tls_server: tuple[RawServer, list[str]],
) -> None:
    server, _ = tls_server
    client = UpstreamClient()  # the system trust store does not know the test's certificate
    try:
        req = UpstreamRequest("GET", f"https://127.0.0.1:{server.port}/", [])
        with pytest.raises(UpstreamConnectError, match="certificate"):
            await client.send(req, FAST)
        assert client.pool_stats()[0].connections == 0
    finally:
        await client.aclose()


async def test_hostname_mismatch_is_a_connect_error(other_cert: tuple[Path, Path]) -> None:
    server = await start_tls(other_cert, [])
    client = UpstreamClient(ssl_context=ssl.create_default_context(cafile=str(other_cert[0])))
    try:
        req = UpstreamRequest("GET", f"https://localhost:{server.port}/", [])
        with pytest.raises(UpstreamConnectError, match="certificate verify failed"):
            await client.send(req, FAST)
        assert server.requests == []
    finally:
        await client.aclose()
        await server.close()
