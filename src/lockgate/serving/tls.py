"""TLS termination for the lean server (``server.tls``), with certificates swapped on reload.

The listening socket keeps one ``SSLContext`` for its whole life; each handshake is moved to
the newest context built from the files (its ``sni_callback`` sets the connection's context,
which OpenSSL calls for every ClientHello, with or without SNI). A reload that finds bad files
keeps the old context and says why. The client-certificate *mode* (``client_auth``) is fixed
when the listener starts; certificates, keys and the client CA bundle can change on reload.

A verified client certificate's subject reaches the application once per connection as the
ASGI extension ``CLIENT_CERT``: ``{"CN": ..., "O": ..., ...}`` (short attribute names).
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from lockgate.config.models import TlsConfig

log = logging.getLogger("lockgate.serving")

CLIENT_CERT: Final = "lockgate.client_cert"
SHORT_NAMES: Final = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "domainComponent": "DC",
    "userId": "UID",
    "emailAddress": "emailAddress",
    "serialNumber": "serialNumber",
}


def client_auth(cfg: TlsConfig) -> str | None:
    if cfg.client_ca is None:
        return None
    return cfg.client_auth or "optional"


def build_context(cfg: TlsConfig) -> ssl.SSLContext:
    """A server context from the files; raises ``ssl.SSLError`` / ``OSError`` on bad ones."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.cert, cfg.key)
    mode = client_auth(cfg)
    if mode is not None:
        assert cfg.client_ca is not None
        ctx.load_verify_locations(cafile=cfg.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if mode == "required" else ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class TlsTerminator:
    """The listener's context and the swap to the newest certificates."""

    def __init__(self, cfg: TlsConfig) -> None:
        self.mode = client_auth(cfg)
        self._current = build_context(cfg)
        self.context = build_context(cfg)
        self.context.sni_callback = self._select
        self.reloads = 0

    def _select(self, conn: Any, server_name: str | None, base: ssl.SSLContext) -> None:
        conn.context = self._current

    def reload(self, cfg: TlsConfig) -> bool:
        """Use the files of ``cfg`` for new connections; False (old ones kept) if they fail."""
        if client_auth(cfg) != self.mode:
            log.warning("server.tls.client_auth changed; it takes effect after a restart")
        try:
            self._current = build_context(cfg)
        except (ssl.SSLError, OSError) as exc:
            log.error("TLS reload failed (%s); the previous certificates stay", type(exc).__name__)
            return False
        self.reloads += 1
        return True


def client_subject(transport: Any) -> dict[str, str] | None:
    """The verified client certificate's subject on this connection, or None."""
    sslobj = transport.get_extra_info("ssl_object")
    if sslobj is None:
        return None
    cert = sslobj.getpeercert()
    if not cert:
        return None
    out: dict[str, str] = {}
    for rdn in cert.get("subject", ()):
        for name, value in rdn:
            out.setdefault(SHORT_NAMES.get(name, name), value)
    return out
