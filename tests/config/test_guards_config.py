# ruff: noqa: E501  (the SPEC example is copied verbatim, long lines included)
"""The cache and guard settings of SPEC section 4b: the example loads, and every key is checked
against the guard type it belongs to (a key that validates is a key that is enforced)."""

from __future__ import annotations

import pytest

from lockgate.config.loader import ConfigError, load_config_text

BASE = """\
version: 1
providers:
  demo: {type: mock}
models:
  gpt-4o-mini:
    deployments: [{provider: demo, model: demo-chat}]
    cache: {mode: exact, ttl: 10m, scope: tenant}
  support-model:
    deployments: [{provider: demo, model: demo-chat}]
    cache: {mode: semantic, threshold: 0.92, ttl: 1h, scope: app}
"""
SPEC_4B = (
    BASE
    + """\
policies:
  - name: pii-eu
    match: {tenants: [acme]}
    guards:
      - {type: pii, on: [input, output], action: redact, entities: [email, phone, credit_card, iban, ssn, ip_address]}
      - {type: secrets, on: [input], action: block}                  # API keys, private keys, tokens
      - {type: prompt_injection, on: [input], action: block, threshold: 0.8}
      - {type: deny, on: [input, output], patterns: ['(?i)project\\s+falcon'], action: block}
      - {type: schema, on: [output]}                                 # response_format json_schema enforced
"""
)


def test_the_spec_example_loads() -> None:
    cfg = load_config_text(SPEC_4B, env={})
    cache = cfg.models["support-model"].cache
    assert cache is not None and (cache.mode, cache.threshold, cache.ttl) == (
        "semantic",
        0.92,
        3600,
    )
    guards = cfg.policies[0].guards
    assert [g.type for g in guards] == ["pii", "secrets", "prompt_injection", "deny", "schema"]
    assert guards[4].sides == frozenset({"output"}) and guards[1].sides == frozenset({"input"})


def guard_problem(guard: str) -> str:
    text = BASE + f"policies:\n  - name: p\n    guards:\n      - {guard}\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    [problem] = info.value.problems
    assert problem.path.startswith("policies[0].guards[0]") and problem.line == 14
    return problem.message


@pytest.mark.parametrize(
    ("guard", "says"),
    [
        ("{type: pii, patterns: ['x']}", "patterns does not apply to a pii guard"),
        ("{type: deny}", "needs at least one pattern"),
        ("{type: deny, patterns: ['(unclosed']}", "not a valid regular expression"),
        ("{type: deny, patterns: ['a*']}", "matches the empty string"),
        ("{type: pii, entities: [passport]}", "unknown entity 'passport'"),
        ("{type: secrets, entities: [email]}", "unknown entity 'email'"),
        ("{type: pii, phone_region: XX}", "phone_region"),
        ("{type: prompt_injection, action: redact}", "cannot redact"),
        ("{type: prompt_injection, on: [output]}", "runs on input only"),
        ("{type: schema, on: [input]}", "runs on output only"),
        ("{type: schema, action: redact}", "cannot redact"),
        ("{type: secrets, threshold: 0.5}", "threshold does not apply"),
        ("{type: pii, custom: {'bad name': 'x+'}}", "letters, digits and underscores"),
        ("{type: virus}", "pii"),
    ],
)
def test_a_guard_key_that_does_not_apply_is_refused(guard: str, says: str) -> None:
    assert says in guard_problem(guard)


def test_custom_entities_can_be_listed() -> None:
    text = BASE + (
        "policies:\n  - name: p\n    guards:\n"
        "      - {type: pii, entities: [email, employee_id], custom: {employee_id: 'E\\d{6}'}}\n"
    )
    assert load_config_text(text, env={}).policies[0].guards[0].custom == {"employee_id": r"E\d{6}"}


@pytest.mark.parametrize(
    ("cache", "says"),
    [
        ("{mode: exact, threshold: 0.9}", "threshold applies to mode semantic only"),
        ("{mode: fuzzy}", "exact"),
        ("{mode: exact, scope: user}", "tenant"),
        ("{mode: exact, ttl: 0s}", "greater than 0"),
    ],
)
def test_cache_settings_are_checked(cache: str, says: str) -> None:
    text = (
        "version: 1\nproviders: {demo: {type: mock}}\n"
        f"models:\n  m:\n    deployments: [{{provider: demo, model: x}}]\n    cache: {cache}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    [problem] = info.value.problems
    assert problem.path.startswith("models.m.cache") and says in problem.message
