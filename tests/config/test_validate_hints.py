"""validate's help for newcomers: "did you mean" for misspelt keys, and --no-env."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lockgate.cli import main
from lockgate.config.loader import validate_file

TYPOS = """\
version: 1
server: {lmits: {}, limits: {max_conections: 3}}
provders: {}
providers:
  openai: {type: openai, api_key: "${env:LG_TEST_UNSET_KEY}", bse_url: "http://x"}
models:
  m: {deployments: [{provider: openai, model: x, wieght: 2}], retry: {atempts: 2}}
plans: {p: {modles: [m], limits: [{requests: 5, per: minute, scoop: key}]}}
"""


def test_unknown_keys_name_the_closest_known_one(tmp_path: Path) -> None:
    f = tmp_path / "typos.yaml"
    f.write_text(TYPOS)
    messages = {p.path: p.message for p in validate_file(f, env={})}
    assert messages["server.lmits"] == "unknown key 'lmits' (did you mean 'limits'?)"
    assert messages["server.limits.max_conections"].endswith("(did you mean 'max_connections'?)")
    assert messages["provders"].endswith("(did you mean 'providers'?)")
    assert messages["providers.openai.bse_url"].endswith("(did you mean 'base_url'?)")
    assert messages["models.m.deployments[0].wieght"].endswith("(did you mean 'weight'?)")
    assert messages["models.m.retry.atempts"].endswith("(did you mean 'attempts'?)")
    assert messages["plans.p.modles"].endswith("(did you mean 'models'?)")
    assert messages["plans.p.limits[0].scoop"].endswith("(did you mean 'scope'?)")


def test_a_key_like_nothing_known_gets_no_guess(tmp_path: Path) -> None:
    f = tmp_path / "far.yaml"
    f.write_text("version: 1\nserver: {zzqx: 1}\n")
    (problem,) = validate_file(f, env={})
    assert problem.message == "unknown key 'zzqx'"


def test_no_env_checks_the_structure_without_the_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LG_TEST_UNSET_KEY", raising=False)
    f = tmp_path / "env.yaml"
    f.write_text(
        "version: 1\n"
        "server: {admin_keys: ['${env:LG_TEST_UNSET_KEY}'], port: '${env:LG_TEST_UNSET_KEY}'}\n"
        "providers: {openai: {type: openai, api_key: '${env:LG_TEST_UNSET_KEY}'}}\n"
    )
    with_env = CliRunner().invoke(main, ["validate", str(f)])
    assert with_env.exit_code == 1 and "LG_TEST_UNSET_KEY is not set" in with_env.output
    without = CliRunner().invoke(main, ["validate", "--no-env", str(f)])
    assert without.exit_code == 0, without.output
    f.write_text(f.read_text() + "modles: {}\n")  # structure is still checked
    broken = CliRunner().invoke(main, ["validate", "--no-env", str(f)])
    assert broken.exit_code == 1 and "did you mean 'models'" in broken.output
    assert "is not set" not in broken.output
