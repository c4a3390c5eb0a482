# ruff: noqa: E501  (the SPEC example is copied verbatim, long lines included)
"""The ``apis:`` section (SPEC section 4b): the SPEC example loads; every problem is reported
with its YAML path and line."""

from __future__ import annotations

import pytest

from lockgate.config.loader import ConfigError, load_config_text

BASE = """\
version: 1
providers: {demo: {type: mock}}
models:
  gpt-4o-mini: {deployments: [{provider: demo, model: x}]}
  embed: {kind: embedding, deployments: [{provider: demo, model: e}]}
plans: {free: {models: [gpt-4o-mini]}}
"""

# SPEC section 4b, verbatim
SPEC_APIS = """\
apis:
  summarize:
    version: 1
    model: gpt-4o-mini
    template: "Summarize in {{ sentences }} sentences:\\n\\n{{ text }}"
    input_schema: {type: object, required: [text], properties: {text: {type: string}, sentences: {type: integer, default: 3}}}
    status: published            # draft | published | deprecated | retired
    sunset: 2027-06-30           # with deprecated: Deprecation and Sunset headers
    subscription: manual         # auto | manual
"""


def problems(text: str) -> dict[str, tuple[int | None, str]]:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + text, env={})
    return {p.path: (p.line, p.message) for p in info.value.problems}


def test_the_spec_example_loads() -> None:
    cfg = load_config_text(BASE + SPEC_APIS, env={})
    [v] = cfg.apis["summarize"].all_versions()
    assert (v.version, v.model, v.status, str(v.sunset)) == (
        1,
        "gpt-4o-mini",
        "published",
        "2027-06-30",
    )
    assert cfg.apis["summarize"].subscription == "manual"


def test_a_list_of_versions() -> None:
    cfg = load_config_text(
        BASE
        + """\
apis:
  translate:
    tenant: acme
    plan: free
    versions:
      - {version: 1, model: gpt-4o-mini, template: "a {{ x }}", status: retired, successor: 2}
      - {version: 2, model: gpt-4o-mini, template: "b {{ x }}", output_schema: {type: object}}
""",
        env={},
    )
    versions = cfg.apis["translate"].all_versions()
    assert [(v.version, v.status) for v in versions] == [(1, "retired"), (2, "published")]
    assert cfg.apis["translate"].tenant == "acme"


def test_problems_are_reported_with_path_and_line() -> None:
    found = problems(
        """\
apis:
  broken:
    version: 1
    model: embed
    template: "{{ text"
    successor: 4
    plan: platinum
  missing:
    model: gpt-4o-mini
  both:
    version: 1
    versions: [{version: 2, model: gpt-4o-mini, template: x}]
  "bad name!": {version: 1, model: gpt-4o-mini, template: x}
  schema:
    version: 1
    model: nope
    template: x
    input_schema: {type: 12}
    status: live
"""
    )
    assert found["apis.broken.model"][1] == "'embed' is not a chat model"
    assert found["apis.broken.template"][0] == 11 and "line 1" in found["apis.broken.template"][1]
    assert "not another version" in found["apis.broken.successor"][1]
    assert "unknown plan 'platinum'" in found["apis.broken.plan"][1]
    assert "needs version, template" in found["apis.missing"][1]
    assert "not both" in found["apis.both"][1]
    assert "API names" in found["apis['bad name!']"][1]
    assert "JSON Schema" in found["apis.schema.input_schema"][1]
    assert "unknown model 'nope'" in found["apis.schema.model"][1]
    assert "apis.schema.status" in found
