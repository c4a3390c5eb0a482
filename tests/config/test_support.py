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


def test_routing_settings_are_enforced_and_accepted() -> None:
    text = BASE + "    circuit_breaker: {window: 30s}\n    context_window: 1000\n"
    model = load_config_text(text, env={}).models["chat"]
    assert model.circuit_breaker is not None and model.context_window == 1000


def test_defaults_are_not_flagged() -> None:
    text = BASE + "plans: {p: {priority: normal, limits: []}}\nserver: {trusted_proxies: []}\n"
    assert load_config_text(text, env={}).plans["p"].priority == "normal"


def test_a_cost_limit_over_an_unpriced_model_is_refused() -> None:
    text = (
        "version: 1\nproviders: {local: {type: openai, base_url: 'http://h/v1'}}\n"
        "models:\n  mine: {deployments: [{provider: local, model: my-model}]}\n"
        "plans:\n  p:\n    limits:\n      - {cost: 10, per: month}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    [problem] = info.value.problems
    assert problem.path == "plans.p.limits[0]" and problem.line == 8
    assert "'mine'" in problem.message and "price" in problem.message
    priced = text.replace("my-model}]}", "my-model}], price: {input: 1, output: 2}}")
    assert load_config_text(priced, env={}).plans["p"].limits[0].cost == 10


def test_a_table_price_is_enough_for_a_cost_limit() -> None:
    text = (
        "version: 1\nproviders: {openai: {type: openai, api_key: k}}\n"
        "models:\n  gpt: {deployments: [{provider: openai, model: gpt-4o-mini-2024-07-18}]}\n"
        "plans:\n  p:\n    limits:\n      - {cost: 10, per: month}\n"
    )
    assert load_config_text(text, env={}).plans["p"].limits[0].cost == 10


def test_limits_on_a_policy_matching_ips_are_refused() -> None:
    text = BASE + (
        "policies:\n  - name: office\n    match: {ips: [10.0.0.0/8]}\n"
        "    limits: [{requests: 5, per: minute}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    [problem] = info.value.problems
    assert problem.path == "policies[0].match.ips" and "scope: ip" in problem.message


def test_a_provider_connection_cap_is_not_a_provider_setting() -> None:
    """Connections per upstream origin are server.upstream.pool_size, which is enforced."""
    text = BASE.replace("demo: {type: mock}", "demo: {type: mock, max_connections: 8}")
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    [problem] = info.value.problems
    assert problem.path == "providers.demo.max_connections" and "unknown key" in problem.message


def test_guards_on_a_policy_matching_ips_are_refused() -> None:
    text = BASE + (
        "policies:\n  - name: office\n    match: {ips: [10.0.0.0/8]}\n"
        "    guards: [{type: secrets}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    [problem] = info.value.problems
    assert problem.path == "policies[0].match.ips" and "guards" in problem.message
