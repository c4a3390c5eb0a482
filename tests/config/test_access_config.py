"""Access-control settings are checked at load: CEL errors with the line of the expression,
HMAC algorithms, symmetric or private keys, and an mTLS header without trusted proxies."""

from __future__ import annotations

import pytest

from lockgate.config.loader import ConfigError, load_config_text

BASE = """\
version: 1
providers:
  demo: {type: mock}
models:
  chat:
    deployments: [{provider: demo, model: demo-chat}]
"""


def problems(extra: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + extra, env={})
    return [(p.path, p.line, p.message) for p in info.value.problems]


def test_cel_errors_are_reported_with_the_line_of_the_expression() -> None:
    found = problems(
        "policies:\n"
        "  - name: ok\n"
        "    allow_if: 'principal.tenant == \"acme\"'\n"
        "  - name: broken\n"
        "    deny_if: 'request.model =='\n"
        "  - name: typo\n"
        "    allow_if: 'request.modle == \"x\"'\n"
    )
    assert [(path, line) for path, line, _ in found] == [
        ("policies[1].deny_if", 11),
        ("policies[2].allow_if", 13),
    ]
    assert "not a valid CEL expression" in found[0][2]
    assert "unknown field request.modle" in found[1][2]


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        (
            "auth: {jwt: [{issuer: i, audience: a, jwks_url: 'https://i', algorithms: [HS256]}]}\n",
            "auth.jwt[0].algorithms[0]",
            "",
        ),
        (
            "auth: {jwt: [{issuer: i, audience: a, jwks: {keys: [{kty: oct, k: abc}]}}]}\n",
            "auth.jwt[0].jwks",
            "only RSA, EC and OKP",
        ),
        ("auth: {jwt: [{issuer: i, audience: a}]}\n", "auth.jwt[0]", "exactly one of jwks_url"),
        ("auth: {mtls: {subject_claims: {tenant: O}}}\n", "auth.mtls", "tenant and app"),
        (
            "auth: {mtls: {subject_claims: {tenant: O, app: CN}, header: x-ssl-subject}}\n",
            "",
            "trusted_proxies",
        ),
        ("server: {tls: {cert: c, key: k, client_auth: required}}\n", "server.tls", "client_ca"),
        ("policies: [{name: n, deny_ips: [10.0.0.300/8]}]\n", "policies[0].deny_ips[0]", ""),
        ("tenants: {acme: {allow_ips: [nope]}}\n", "tenants.acme.allow_ips[0]", ""),
        ("roles: {r: {operations: [delete]}}\n", "roles.r.operations[0]", ""),
    ],
)
def test_access_settings_are_checked(extra: str, path: str, message: str) -> None:
    found = problems(extra)
    assert any(p == path and message in m for p, _, m in found), found


def test_valid_access_settings_load() -> None:
    cfg = load_config_text(
        BASE
        + "server: {trusted_proxies: [10.0.0.0/8, 'fd00::/8']}\n"
        + "auth:\n"
        + "  mtls: {subject_claims: {tenant: O, app: CN}, header: x-forwarded-client-cert}\n"
        + "  api_keys: {rotation_grace: 10m}\n"
        + "roles: {r: {models: [chat], operations: [chat, messages]}}\n"
        + "policies: [{name: n, match: {routes: [chat], ips: [192.0.2.0/24]}, deny_if: 'false'}]\n",
        env={},
    )
    assert cfg.auth.api_keys.rotation_grace == 600
