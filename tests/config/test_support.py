"""Every setting this build does not enforce yet is refused at load, by name and line."""

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


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ("server: {trusted_proxies: [10.0.0.0/8]}\n", "server.trusted_proxies"),
        (
            "auth: {jwt: [{issuer: i, audience: a, jwks: {keys: []}}]}\n",
            "auth.jwt",
        ),
        ("auth: {mtls: {subject_claims: {tenant: O}}}\n", "auth.mtls"),
        ("plans: {p: {limits: [{requests: 1, per: minute}]}}\n", "plans.p.limits"),
        ("plans: {p: {priority: high}}\n", "plans.p.priority"),
        ("policies: [{name: n, limits: [{requests: 1, per: second}]}]\n", "policies[0].limits"),
        ("policies: [{name: n, allow_if: 'true'}]\n", "policies[0].allow_if"),
        ("policies: [{name: n, deny_if: 'true'}]\n", "policies[0].deny_if"),
        ("policies: [{name: n, deny_ips: [10.0.0.0/8]}]\n", "policies[0].deny_ips"),
        ("policies: [{name: n, allow_ips: [10.0.0.0/8]}]\n", "policies[0].allow_ips"),
    ],
)
def test_a_setting_not_enforced_yet_is_refused(extra: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + extra, env={})
    [problem] = info.value.problems
    assert problem.path == path and problem.line is not None
    assert "not supported yet" in problem.message


@pytest.mark.parametrize(
    ("model_extra", "key"),
    [
        ("    circuit_breaker: {window: 30s}\n", "circuit_breaker"),
        ("    context_window: 1000\n", "context_window"),
        ("    max_in_flight: 4\n", "max_in_flight"),
    ],
)
def test_model_settings_not_enforced_yet_are_refused(model_extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + model_extra, env={})
    [problem] = info.value.problems
    assert problem.path == f"models.chat.{key}" and problem.line == 7


def test_defaults_are_not_flagged() -> None:
    text = BASE + "plans: {p: {priority: normal, limits: []}}\nserver: {trusted_proxies: []}\n"
    assert load_config_text(text, env={}).plans["p"].priority == "normal"
