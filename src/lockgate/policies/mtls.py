"""Client certificates as credentials (``auth.mtls``).

The subject comes from the TLS connection when this server terminates TLS and verified the
certificate against ``server.tls.client_ca``; behind a TLS-terminating proxy it comes from the
header named by ``auth.mtls.header``, believed only when the socket peer is in
``server.trusted_proxies`` (anyone else could write the header). ``subject_claims`` maps
subject attributes to the tenant, the app and optionally the user, e.g. ``{tenant: O, app:
CN}``; a subject naming no existing app is refused with 401.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from lockgate.config.models import MtlsConfig
from lockgate.errors import AuthenticationFailed
from lockgate.identity.principal import Principal
from lockgate.pipeline.context import RequestContext

_XFCC_SUBJECT = re.compile(r'Subject="((?:[^"\\]|\\.)*)"')
MAX_SUBJECT = 4096


def parse_dn(text: str) -> dict[str, str]:
    """An RFC 4514 distinguished name ("CN=bot,O=acme") as {attribute: value}; escaped
    characters (``\\,``) are kept, a repeated attribute keeps its first (most specific) value."""
    out: dict[str, str] = {}
    name: list[str] = []
    value: list[str] = []
    escaped = in_value = False
    for ch in text + ",":
        if escaped:
            (value if in_value else name).append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "=" and not in_value:
            in_value = True
        elif ch in ",+" and in_value:
            key = "".join(name).strip()
            if key and key not in out:
                out[key] = "".join(value).strip()
            name, value, in_value = [], [], False
        else:
            (value if in_value else name).append(ch)
    return out


def header_subject(value: str) -> dict[str, str]:
    """A proxy's client-certificate header: Envoy's x-forwarded-client-cert (the element the
    nearest proxy added is the last), or a plain RFC 4514 subject (nginx ``$ssl_client_s_dn``)."""
    found = _XFCC_SUBJECT.findall(value)
    if found:
        return parse_dn(found[-1].replace('\\"', '"'))
    return parse_dn(value)


class MtlsAuthenticator:
    def __init__(self, config: MtlsConfig) -> None:
        self._claims = dict(config.subject_claims)
        self._header = config.header.lower().encode("latin-1") if config.header else None

    def subject(self, ctx: RequestContext) -> Mapping[str, str] | None:
        if ctx.client_cert is not None:
            return ctx.client_cert
        if self._header is not None and ctx.peer_trusted:
            value = ctx.header(self._header)
            if value is not None:
                if len(value) > MAX_SUBJECT:
                    raise AuthenticationFailed(
                        "authentication: the client-certificate header is too long",
                        code="invalid_client_certificate",
                    )
                return header_subject(value.decode("latin-1"))
        return None

    def authenticate(
        self, ctx: RequestContext, lookup_app: Callable[[str, str], Principal | None]
    ) -> Principal | None:
        """The principal of the client certificate; None when there is none."""
        subject = self.subject(ctx)
        if subject is None:
            return None
        tenant = subject.get(self._claims["tenant"])
        app = subject.get(self._claims["app"])
        base = lookup_app(tenant, app) if tenant and app else None
        if base is None:
            raise AuthenticationFailed(
                "authentication: the client certificate's subject names no known tenant and "
                f"app (auth.mtls.subject_claims: tenant={self._claims['tenant']}, "
                f"app={self._claims['app']})",
                code="invalid_client_certificate",
            )
        user_attr = self._claims.get("user")
        user = subject.get(user_attr) if user_attr else None
        return replace(base, user=user, auth="mtls")
