"""TLS and mTLS terminated by the lean server, with a CA made for the test: a valid client
certificate authenticates as its tenant/app; a missing one, one from another CA, or an
expired one does not; certificates swap on reload without a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lockgate.app import Gateway
from lockgate.config.models import Config
from lockgate.serving.server import LeanServer

NOW = dt.datetime.now(dt.UTC)
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class Issued:
    cert: Path
    key: Path
    obj: x509.Certificate
    private: ec.EllipticCurvePrivateKey


def _name(**attrs: str) -> x509.Name:
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "UID": NameOID.USER_ID}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attrs.items()])


def issue(
    d: Path,
    stem: str,
    subject: x509.Name,
    ca: Issued | None,
    *,
    days: tuple[int, int] = (-1, 30),
    is_ca: bool = False,
    san: bool = False,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.obj.subject if ca else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    cert = builder.sign(ca.private if ca else key, hashes.SHA256())
    crt, pem = d / f"{stem}.crt", d / f"{stem}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(crt, pem, cert, key)


@dataclass
class Pki:
    ca: Issued
    server: Issued
    server2: Issued
    client: Issued
    expired: Issued
    stranger: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = issue(d, "ca", _name(CN="Test CA"), None, is_ca=True)
    other_ca = issue(d, "other-ca", _name(CN="Other CA"), None, is_ca=True)
    return Pki(
        ca=ca,
        server=issue(d, "server", _name(CN="localhost"), ca, san=True),
        server2=issue(d, "server2", _name(CN="localhost"), ca, san=True),
        client=issue(d, "client", _name(CN="bot", O="acme", UID="u7"), ca),
        expired=issue(d, "expired", _name(CN="bot", O="acme"), ca, days=(-30, -1)),
        stranger=issue(d, "stranger", _name(CN="bot", O="acme"), other_ca),
    )


class WithTls:
    """The gateway as the lean server sees it: an ASGI app with a ``tls_context``."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.tls_context = gw.tls_context

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.gw(scope, receive, send)


def config(tmp: Path, pki: Pki, client_auth: str, server: Issued | None = None) -> Config:
    server = server or pki.server
    return Config.model_validate(
        {
            "version": 1,
            "storage": f"sqlite:///{tmp / 'tls.db'}",
            "server": {
                "tls": {
                    "cert": str(server.cert),
                    "key": str(server.key),
                    "client_ca": str(pki.ca.cert),
                    "client_auth": client_auth,
                }
            },
            "auth": {"mtls": {"subject_claims": {"tenant": "O", "app": "CN", "user": "UID"}}},
            "providers": {"demo": {"type": "mock"}},
            "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
        }
    )


@pytest.fixture
async def started(tmp_path: Path, pki: Pki, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    gw = Gateway(config(tmp_path, pki, request.param))
    await gw.startup()
    gw.store.create_tenant("acme")
    gw.store.create_app("acme", "bot")
    await gw.refresher.refresh_now()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = LeanServer(WithTls(gw), host="127.0.0.1", port=0, sock=sock, graceful_timeout=2)
    task = asyncio.create_task(server.serve())
    while not server.bound_port:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    try:
        yield gw, f"https://localhost:{server.bound_port}"
    finally:
        server.request_shutdown()
        await asyncio.wait_for(task, 10)
        await gw.shutdown()


def client(pki: Pki, base: str, cert: Issued | None) -> httpx.AsyncClient:
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    return httpx.AsyncClient(base_url=base, verify=ctx, timeout=5)


async def call(pki: Pki, base: str, cert: Issued | None) -> httpx.Response:
    async with client(pki, base, cert) as c:
        return await c.post("/v1/chat/completions", json=CHAT)


@pytest.mark.parametrize("started", ["required"], indirect=True)
async def test_required_client_certificates(started: Any, pki: Pki) -> None:
    _, base = started
    r = await call(pki, base, pki.client)
    assert r.status_code == 200, r.text
    for bad in (None, pki.stranger, pki.expired):  # missing, wrong CA, expired
        with pytest.raises(httpx.HTTPError):
            await call(pki, base, bad)


@pytest.mark.parametrize("started", ["optional"], indirect=True)
async def test_optional_client_certificates(started: Any, pki: Pki) -> None:
    _, base = started
    assert (await call(pki, base, pki.client)).status_code == 200
    r = await call(pki, base, None)  # no certificate and no key: 401, not a handshake failure
    assert r.status_code == 401 and "client certificate" in r.json()["error"]["message"]
    for bad in (pki.stranger, pki.expired):
        with pytest.raises(httpx.HTTPError):
            await call(pki, base, bad)


@pytest.mark.parametrize("started", ["optional"], indirect=True)
async def test_certificates_are_swapped_on_reload(started: Any, pki: Pki, tmp_path: Path) -> None:
    gw, base = started

    async def serial() -> int:
        host, port = base.removeprefix("https://").split(":")
        ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
        _, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        return x509.load_der_x509_certificate(der).serial_number

    assert await serial() == pki.server.obj.serial_number
    await gw.apply_config(config(tmp_path, pki, "optional", server=pki.server2))
    assert await serial() == pki.server2.obj.serial_number
    broken = config(
        tmp_path,
        pki,
        "optional",
        server=Issued(tmp_path / "missing", tmp_path / "x", pki.server.obj, pki.server.private),
    )
    await gw.apply_config(broken)  # bad files: the current certificate stays
    assert await serial() == pki.server2.obj.serial_number
