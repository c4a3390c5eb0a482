# ruff: noqa: E501  (the SPEC example is copied verbatim, long lines included)
"""The full example of SPEC section 4, verbatim, must load.

The one addition: policies' ``match.models`` are reference-checked like plans' and roles'
``models``, so the example's ``fraud-detector`` must exist; the test adds it after the copy,
with a price (a cost limit of the ``standard`` plan covers every model, and a budget cannot
count calls to a model whose price is unknown).
"""

from __future__ import annotations

import pytest

from lockgate.config.loader import ConfigError, load_config_text

SPEC_EXAMPLE = """\
version: 1
server: {host: 127.0.0.1, port: 8080, admin_keys: ["${env:LOCKGATE_ADMIN_KEY}"], trusted_proxies: []}
storage: sqlite:///./.lockgate/lockgate.db    # or postgresql://user@host/db
state: memory                                  # or redis://host:6379/0 — required for workers>1 / replicas

auth:
  jwt:
    - issuer: https://idp.example.com
      audience: lockgate
      jwks_url: https://idp.example.com/.well-known/jwks.json   # or jwks: {keys: [...]} inline
      claims: {tenant: org, app: client_id, user: sub, roles: roles}
  mtls: {subject_claims: {tenant: O, app: CN}}   # client certificate subject -> principal

providers:
  openai:   {type: openai, api_key: "${env:OPENAI_API_KEY}"}
  claude:   {type: anthropic, api_key: "${env:ANTHROPIC_API_KEY}"}
  gemini:   {type: gemini, api_key: "${env:GEMINI_API_KEY}"}
  azure-eu: {type: azure_openai, base_url: "https://x.openai.azure.com", api_version: "2024-10-21", api_key: "${env:AZURE_KEY}", region: eu}
  local:    {type: openai, base_url: "http://127.0.0.1:8000/v1", region: onprem}   # vLLM, Ollama, ...
  demo:     {type: mock}

models:
  gpt-4o-mini:
    routing: weighted            # weighted | round-robin | least-busy | least-latency | lowest-cost
    deployments:
      - {provider: openai, model: gpt-4o-mini, weight: 3}
      - {provider: azure-eu, model: gpt-4o-mini, weight: 1}
    price: {input: 0.15, output: 0.60, cached_input: 0.075}     # USD per 1M tokens
    context_window: 128000
    retry: {attempts: 2, backoff: 250ms, max_backoff: 4s, on: [429, 500, 502, 503, 504]}
    timeout: {connect: 5s, first_token: 30s, idle: 30s, total: 300s}
    circuit_breaker: {window: 30s, min_requests: 20, error_rate: 0.5, open_for: 30s, probes: 3}
    fallbacks: [claude-haiku]
    max_in_flight: 200
  claude-haiku:
    deployments: [{provider: claude, model: claude-3-5-haiku-latest}]
    price: {input: 0.8, output: 4.0}

plans:
  free:
    models: [gpt-4o-mini]
    limits:
      - {requests: 20, per: minute}
      - {tokens: 100k, per: day}
  standard:
    models: ["*"]
    priority: normal                 # low | normal | high
    limits:
      - {requests: 600, per: minute, burst: 50}
      - {tokens: 1M, per: minute}
      - {tokens: 50M, per: month}
      - {cost: 500, per: month, alert_at: [0.5, 0.8, 1.0]}
      - {requests: 100, per: minute, scope: key, model: each}

roles:
  production: {models: [gpt-4o-mini, claude-haiku]}
  research:   {models: ["*"]}

tenants:                  # optional seed; at runtime tenants/apps/keys live in the store
  acme:
    plan: standard
    residency: [eu]
    attributes: {department: finance}
    apps:
      support-bot: {plan: free, roles: [production]}

policies:
  - name: fraud-model-business-hours
    match: {models: [fraud-detector]}
    allow_if: 'principal.attributes.department == "finance" && request.time.hour >= 9 && request.time.hour < 17'
  - name: flood
    limits: [{requests: 50, per: second, scope: ip}]
  - name: blocked-networks
    deny_ips: [203.0.113.0/24]

alerts:
  webhooks: [{url: "https://hooks.example/lockgate", events: [budget.threshold, circuit.open]}]
"""

FRAUD_DETECTOR = """\
  fraud-detector:
    deployments: [{provider: local, model: fraud-v2}]
    price: {input: 0.0, output: 0.0}      # self-hosted: priced at zero, knowingly
"""

ENV = {
    "LOCKGATE_ADMIN_KEY": "lg-admin-secret",
    "OPENAI_API_KEY": "sk-openai",
    "ANTHROPIC_API_KEY": "sk-ant",
    "GEMINI_API_KEY": "gem-key",
    "AZURE_KEY": "az-key",
}


def with_fraud_detector(text: str) -> str:
    anchor = "plans:\n"
    return text.replace(anchor, FRAUD_DETECTOR + "\n" + anchor, 1)


@pytest.fixture
def schema_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check the schema alone: settings that are not enforced yet are refused separately."""
    monkeypatch.setattr("lockgate.config.loader.unsupported_settings", lambda cfg: iter(()))


def test_spec_example_is_enforced_in_full() -> None:
    """No setting of the SPEC example is refused as not enforced: it loads as it is."""
    cfg = load_config_text(with_fraud_detector(SPEC_EXAMPLE), env=ENV)
    gpt = cfg.models["gpt-4o-mini"]
    assert gpt.circuit_breaker is not None and gpt.context_window == 128000


@pytest.mark.usefixtures("schema_only")
def test_spec_example_validates() -> None:
    cfg = load_config_text(with_fraud_detector(SPEC_EXAMPLE), env=ENV)
    gpt = cfg.models["gpt-4o-mini"]
    assert [d.provider for d in gpt.deployments] == ["openai", "azure-eu"]
    assert (gpt.retry.backoff, gpt.retry.max_backoff, gpt.retry.on[0]) == (0.25, 4.0, 429)
    assert gpt.timeout.total == 300.0
    standard = cfg.plans["standard"]
    assert [lim.tokens for lim in standard.limits[1:3]] == [1_000_000, 50_000_000]
    assert cfg.plans["free"].limits[1].tokens == 100_000
    assert standard.limits[4].scope == "key" and standard.limits[4].model == "each"
    assert cfg.tenants["acme"].apps["support-bot"].roles == ["production"]
    assert cfg.policies[2].deny_ips == ["203.0.113.0/24"]
    admin = cfg.server.admin_keys[0].get_secret_value()
    assert admin == "lg-admin-secret" and "lg-admin-secret" not in repr(cfg)


@pytest.mark.usefixtures("schema_only")
def test_spec_example_as_written_flags_only_the_unknown_policy_model() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(SPEC_EXAMPLE, env=ENV)
    [problem] = info.value.problems
    assert problem.path == "policies[0].match.models[0]"
    assert "unknown model 'fraud-detector'" in problem.message


@pytest.mark.usefixtures("schema_only")
def test_spec_example_without_env_names_each_missing_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(with_fraud_detector(SPEC_EXAMPLE), env={})
    assert sorted(p.message.split()[2] for p in info.value.problems) == sorted(ENV)
