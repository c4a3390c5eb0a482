from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.config.loader import (
    ConfigError,
    Problem,
    check_references,
    load_config_file,
    load_config_text,
    validate_file,
)
from lockgate.config.models import Config

BASE = """\
version: 1
providers:
  demo: {type: mock}
models:
  chat:
    deployments: [{provider: demo, model: demo-chat}]
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env=env or {})
    assert info.value.problems, "ConfigError without problems"
    return info.value.problems


def only(text: str, env: dict[str, str] | None = None) -> Problem:
    found = problems(text, env)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_minimal_config_loads() -> None:
    cfg = load_config_text(BASE, env={})
    assert cfg.models["chat"].deployments[0].provider == "demo"


def test_problem_str_and_error_lists_every_problem() -> None:
    p = Problem("models.x.deployments[1].provider", 12, "unknown provider 'openai2'")
    assert str(p) == "line 12: models.x.deployments[1].provider: unknown provider 'openai2'"
    assert str(Problem("", None, "empty")) == "empty"
    err = ConfigError([p, Problem("a", 3, "b")], "cfg.yaml")
    assert str(err).splitlines() == [f"cfg.yaml: {p}", "cfg.yaml: line 3: a: b"]


# --- schema mistakes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "path", "line"),
    [
        ("colour: blue\n", "colour", 7),
        ("server: {port: 1, hots: x}\n", "server.hots", 7),
        (
            "plans:\n  p:\n    limits:\n      - requests: 5\n"
            "        per: minute\n        brust: 1\n",
            "plans.p.limits[0].brust",
            12,
        ),
    ],
)
def test_unknown_key_at_any_depth(extra: str, path: str, line: int) -> None:
    p = only(BASE + extra)
    assert (p.path, p.line) == (path, line)
    assert p.message.startswith(f"unknown key '{path.rsplit('.', 1)[-1]}'")


def test_unknown_key_inside_a_list_item() -> None:
    text = BASE.replace("model: demo-chat}", "model: demo-chat, wieght: 2}")
    p = only(text)
    assert (p.path, p.line, p.message) == (
        "models.chat.deployments[0].wieght",
        6,
        "unknown key 'wieght' (did you mean 'weight'?)",
    )


def test_wrong_type_names_what_was_expected_and_given() -> None:
    p = only(BASE + "server:\n  port: abc\n")
    assert (p.path, p.line) == ("server.port", 8)
    assert p.message == "expected an integer, got 'abc'"


def test_mapping_where_a_list_is_expected() -> None:
    p = only(BASE + "plans:\n  p: {models: {a: 1}}\n")
    assert p.path == "plans.p.models"
    assert p.message == "expected a list, got a mapping"


def test_missing_required_key_points_at_the_parent() -> None:
    p = only(BASE + "  other:\n    price: {input: 1}\n")
    assert (p.path, p.line) == ("models.other.deployments", 7)
    assert p.message == "missing required key 'deployments'"


def test_missing_version() -> None:
    p = only(BASE.replace("version: 1\n", ""))
    assert (p.path, p.line, p.message) == ("version", 1, "missing required key 'version'")


def test_bad_enum_lists_the_choices() -> None:
    p = only(BASE + "    routing: random\n")
    assert (p.path, p.line) == ("models.chat.routing", 7)
    assert "expected one of 'weighted', 'round-robin'" in p.message
    assert p.message.endswith("got 'random'")


def test_bad_number_suffix() -> None:
    p = only(BASE + "plans:\n  p:\n    limits: [{tokens: 10G, per: day}]\n")
    assert (p.path, p.line) == ("plans.p.limits[0].tokens", 9)
    assert "not a number" in p.message and "got '10G'" in p.message


def test_boolean_is_not_a_number() -> None:
    p = only(BASE + "plans:\n  p:\n    limits: [{requests: yes, per: day}]\n")
    assert p.path == "plans.p.limits[0].requests"


def test_bad_duration() -> None:
    p = only(BASE + "    retry: {backoff: 5 sec}\n")
    assert (p.path, p.line) == ("models.chat.retry.backoff", 7)
    assert "not a duration" in p.message and "got '5 sec'" in p.message


def test_negative_number_is_out_of_range() -> None:
    p = only(BASE + "    price: {input: -1}\n")
    assert (p.path, p.message) == ("models.chat.price.input", "must be at least 0, got -1")


def test_model_level_rule_is_reported_at_its_mapping() -> None:
    p = only(BASE + "plans:\n  p:\n    limits: [{per: day}]\n")
    assert (p.path, p.line) == ("plans.p.limits[0]", 9)
    assert "exactly one of requests, tokens or cost" in p.message


def test_union_branches_are_merged_into_one_problem() -> None:
    text = BASE + "auth:\n  jwt: [{issuer: i, audience: {a: 1}, jwks_url: u}]\n"
    p = only(text)
    assert (p.path, p.message) == (
        "auth.jwt[0].audience",
        "expected a string or a list, got a mapping",
    )


def test_unquoted_date_for_a_string_gets_a_hint() -> None:
    text = BASE + "  az:\n    deployments: [{provider: demo, model: 2024-10-21}]\n"
    p = only(text)
    assert p.path == "models.az.deployments[0].model"
    assert "got the date 2024-10-21" in p.message and "quotes" in p.message


def test_keys_are_never_yaml_booleans() -> None:
    # YAML 1.1 reads a bare `on` as true; as a key it must stay "on".
    cfg = load_config_text(BASE + "    retry: {on: [429]}\n", env={})
    assert cfg.models["chat"].retry.on == [429]


def test_dotted_keys_are_bracketed_in_paths() -> None:
    text = BASE + "  gpt-4.1:\n    deployments: [{provider: nope, model: m}]\n"
    p = only(text)
    assert p.path == "models['gpt-4.1'].deployments[0].provider"
    assert p.line == 8


# --- YAML-level mistakes ------------------------------------------------------------------


def test_duplicate_key() -> None:
    p = only(BASE + "  chat:\n    deployments: [{provider: demo, model: x}]\n")
    assert (p.path, p.line) == ("models.chat", 7)
    assert p.message == "duplicate key 'chat' (first at line 5)"


def test_yaml_syntax_error_has_a_line() -> None:
    p = only(BASE + "plans:\n  p: {models: [a, b}\n")
    assert p.line == 8
    assert p.message.startswith("YAML syntax error")


def test_document_that_is_not_a_mapping() -> None:
    p = only("- version: 1\n")
    assert p.path == "" and "must be a mapping" in p.message and "got a list" in p.message


def test_empty_document() -> None:
    assert "empty" in only("# nothing\n").message


def test_merge_keys_work() -> None:
    anchored = BASE.replace("    deployments:", "    retry: &r {attempts: 3}\n    deployments:")
    other = """\
  other:
    <<: {kind: chat}
    retry: *r
    deployments: [{provider: demo, model: x}]
"""
    text = anchored + other
    cfg = load_config_text(text, env={})
    assert cfg.models["other"].retry.attempts == 3


# --- field checks in the schema -----------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "needs"),
    [
        ("{type: azure_openai, api_key: k}", "base_url and api_version"),
        ("{type: azure_openai, base_url: 'https://x', api_key: k}", "api_version"),
        ("{type: openai}", "api_key"),
        ("{type: anthropic}", "api_key"),
        ("{type: gemini, base_url: 'https://g'}", "api_key"),
    ],
)
def test_provider_required_settings(provider: str, needs: str) -> None:
    p = only(BASE.replace("demo: {type: mock}", f"demo: {{type: mock}}\n  p: {provider}"))
    assert (p.path, p.line) == ("providers.p", 4)
    assert p.message.endswith(f"requires {needs}")


def test_openai_type_with_base_url_needs_no_key() -> None:
    text = BASE.replace("demo: {type: mock}", "demo: {type: openai, base_url: 'http://x/v1'}")
    assert load_config_text(text, env={}).providers["demo"].api_key is None


@pytest.mark.parametrize(
    ("line", "path", "words"),
    [
        ("storage: mysql://u:pw@db/x", "storage", "sqlite:///"),
        ("state: memcached://h", "state", "redis://"),
        ("server: {trusted_proxies: [10.0.0.0/33]}", "server.trusted_proxies[0]", "IP"),
        ("policies: [{name: p, deny_ips: [nope]}]", "policies[0].deny_ips[0]", "IP"),
        ("policies: [{name: p, allow_ips: ['::1', x]}]", "policies[0].allow_ips[1]", "IP"),
        (
            "plans: {p: {limits: [{tokens: 1, per: day, tz: Mars/Olympus}]}}",
            "plans.p.limits[0].tz",
            "time zone",
        ),
    ],
)
def test_urls_networks_and_zones(line: str, path: str, words: str) -> None:
    p = only(BASE + line + "\n")
    assert (p.path, p.line) == (path, 7)
    assert words in p.message


@pytest.fixture
def schema_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check the schema alone: settings that are not enforced yet are refused separately."""
    monkeypatch.setattr("lockgate.config.loader.unsupported_settings", lambda cfg: iter(()))


@pytest.mark.usefixtures("schema_only")
def test_valid_urls_networks_and_zones() -> None:
    text = BASE + (
        "storage: postgresql://u@h/db\nstate: rediss://r:6380/0\n"
        "server: {trusted_proxies: [10.0.0.1/8, '::1']}\n"
        "plans: {p: {limits: [{tokens: 1, per: day, tz: Europe/Berlin}]}}\n"
    )
    cfg = load_config_text(text, env={})
    assert cfg.state == "rediss://r:6380/0"


def test_url_with_credentials_is_not_echoed() -> None:
    assert "pw" not in str(only(BASE + "storage: mysql://u:pw@db/x\n"))


def test_literal_secret_of_the_wrong_type_is_not_echoed() -> None:
    p = only(BASE.replace("demo: {type: mock}", "demo: {type: mock, api_key: 123456789}"))
    assert p.path == "providers.demo.api_key"
    assert "123456789" not in str(p)


# --- numbers and durations ----------------------------------------------------------------


@pytest.mark.usefixtures("schema_only")
def test_number_suffixes_and_durations() -> None:
    text = BASE + (
        "    retry: {backoff: 250ms, max_backoff: 4s}\n"
        "    timeout: {total: 2m, connect: 1.5}\n"
        "plans:\n  p:\n    limits:\n"
        "      - {tokens: 100k, per: day}\n"
        "      - {tokens: 1M, per: minute}\n"
        "      - {tokens: 50M, per: month}\n"
        "      - {requests: 2.5k, per: hour, burst: 1k}\n"
    )
    cfg = load_config_text(text, env={})
    limits = cfg.plans["p"].limits
    assert [lim.tokens for lim in limits[:3]] == [100_000, 1_000_000, 50_000_000]
    assert (limits[3].requests, limits[3].burst) == (2_500, 1_000)
    retry, timeout = cfg.models["chat"].retry, cfg.models["chat"].timeout
    assert (retry.backoff, retry.max_backoff) == (0.25, 4.0)
    assert (timeout.total, timeout.connect) == (120.0, 1.5)


# --- references ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        (
            "  b:\n    deployments: [{provider: demo, model: x}, {provider: openai2, model: y}]\n",
            "models.b.deployments[1].provider",
            "unknown provider 'openai2' (known: demo)",
        ),
        ("    fallbacks: [missing]\n", "models.chat.fallbacks[0]", "unknown model 'missing'"),
        ("    fallbacks: [chat]\n", "models.chat.fallbacks[0]", "cannot fall back to itself"),
        ("plans: {p: {models: ['*', nope]}}\n", "plans.p.models[1]", "unknown model 'nope'"),
        ("roles: {r: {models: [nope, '*']}}\n", "roles.r.models[0]", "unknown model 'nope'"),
        ("tenants: {t: {plan: gold}}\n", "tenants.t.plan", "unknown plan 'gold'"),
        (
            "tenants: {t: {apps: {a: {plan: gold}}}}\n",
            "tenants.t.apps.a.plan",
            "unknown plan 'gold'",
        ),
        (
            "tenants: {t: {apps: {a: {roles: [admin]}}}}\n",
            "tenants.t.apps.a.roles[0]",
            "unknown role 'admin' (none defined)",
        ),
        ("default_plan: gold\n", "default_plan", "unknown plan 'gold'"),
        (
            "policies: [{name: x, match: {models: [fraud-detector]}}]\n",
            "policies[0].match.models[0]",
            "unknown model 'fraud-detector'",
        ),
    ],
)
def test_dangling_reference(extra: str, path: str, message: str) -> None:
    p = only(BASE + extra)
    assert p.path == path
    assert message in p.message
    assert p.line is not None and p.line >= 5


def test_embedding_model_cannot_be_a_chat_fallback() -> None:
    text = BASE + (
        "    kind: chat\n"
        "    fallbacks: [embed]\n"
        "  embed:\n    kind: embedding\n    deployments: [{provider: demo, model: e}]\n"
    )
    p = only(text)
    assert (p.path, p.line) == ("models.chat.fallbacks[0]", 8)
    assert p.message == "'embed' has kind embedding, this model has kind chat"


def test_a_model_without_kind_may_fall_back_to_either_kind() -> None:
    text = BASE + (
        "    fallbacks: [embed]\n"
        "  embed:\n    kind: embedding\n    deployments: [{provider: demo, model: e}]\n"
    )
    cfg = load_config_text(text, env={})
    assert cfg.models["chat"].kind is None
    assert cfg.models["embed"].kind == "embedding"


def test_check_references_on_a_config_object() -> None:
    cfg = Config.model_validate(
        {
            "version": 1,
            "models": {"m": {"deployments": [{"provider": "ghost", "model": "x"}]}},
            "plans": {"p": {"models": ["m", "*", "n"]}},
        }
    )
    found = check_references(cfg)
    assert [(p.path, p.line) for p in found] == [
        ("models.m.deployments[0].provider", None),
        ("plans.p.models[2]", None),
    ]


def test_references_are_checked_even_when_the_schema_fails() -> None:
    found = problems(BASE + "    routing: random\n    fallbacks: [ghost]\n")
    assert [p.path for p in found] == ["models.chat.routing", "models.chat.fallbacks[0]"]


# --- several mistakes at once -------------------------------------------------------------

MANY = """\
version: 1
server:
  port: 99999
providers:
  demo: {type: mock}
  az: {type: azure_openai, api_key: "${env:AZ}"}
models:
  chat:
    deployments:
      - {provider: demo, model: demo-chat}
      - {provider: openai2, model: gpt}
    routing: fastest
    fallbacks: [nope]
  embed:
    kind: embedding
plans:
  free:
    limits:
      - {tokens: 100k, per: fortnight}
    colour: red
roles:
  r: {models: [ghost]}
tenants:
  acme: {plan: gold}
"""


def test_a_file_with_several_mistakes_reports_all_of_them_in_line_order() -> None:
    found = problems(MANY, env={"AZ": "k"})
    assert [(p.line, p.path) for p in found] == [
        (3, "server.port"),
        (6, "providers.az"),
        (11, "models.chat.deployments[1].provider"),
        (12, "models.chat.routing"),
        (13, "models.chat.fallbacks[0]"),
        (14, "models.embed.deployments"),
        (19, "plans.free.limits[0].per"),
        (20, "plans.free.colour"),
        (22, "roles.r.models[0]"),
        (24, "tenants.acme.plan"),
    ]
    assert found[0].message == "must be at most 65535, got 99999"


# --- environment references ---------------------------------------------------------------


def test_env_refs_whole_embedded_default_and_escape() -> None:
    text = BASE.replace(
        "demo: {type: mock}",
        "demo: {type: openai, api_key: '${env:KEY}', base_url: 'https://${env:HOST}/v1',"
        " region: '${env:REGION:-eu}', headers: {x-note: '$${env:KEY} costs $$5'}}",
    )
    cfg = load_config_text(text, env={"KEY": "sk-1", "HOST": "api.example"})
    demo = cfg.providers["demo"]
    assert demo.api_key is not None and demo.api_key.get_secret_value() == "sk-1"
    assert demo.base_url == "https://api.example/v1"
    assert demo.region == "eu"
    assert demo.headers == {"x-note": "${env:KEY} costs $$5"}


def test_unset_env_var_is_one_problem_naming_the_variable() -> None:
    text = BASE + "server: {port: '${env:LG_PORT}'}\n"
    p = only(text)
    assert (p.path, p.line) == ("server.port", 7)
    assert p.message == "environment variable LG_PORT is not set"


def test_malformed_reference() -> None:
    p = only(BASE + "server: {host: '${HOST}'}\n")
    assert p.path == "server.host" and "$${" in p.message


def test_env_values_never_appear_in_problems() -> None:
    secret = "s3cr3t-Value"
    text = BASE + (
        "server: {port: '${env:SECRET}', shutdown_grace: '${env:SECRET}'}\n"
        "plans: {p: {limits: [{tokens: 'x${env:SECRET}', per: '${env:SECRET}'}]}}\n"
    )
    found = problems(text, env={"SECRET": secret})
    assert len(found) == 4
    for p in found:
        assert secret not in str(p)
        assert "(from ${env:SECRET})" in p.message
    assert found[0].message == "expected an integer, got (from ${env:SECRET})"


# --- files --------------------------------------------------------------------------------


def test_load_and_validate_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    assert validate_file(good, env={}) == []
    assert load_config_file(good, env={}).version == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "extra: 1\n")
    assert [p.path for p in validate_file(bad, env={})] == ["extra"]
    with pytest.raises(ConfigError) as info:
        load_config_file(bad, env={})
    assert str(info.value).startswith(f"{bad}: line 7: extra: ")


def test_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    found = validate_file(tmp_path / "missing.yaml")
    assert len(found) == 1 and "cannot read" in found[0].message


def test_alias_bombs_are_cut_short() -> None:
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    layers += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    found = problems("\n".join(["version: 1", *layers]) + "\n")
    assert any("too many values" in p.message for p in found)
