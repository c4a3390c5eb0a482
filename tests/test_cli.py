"""The lockgate command line: --help everywhere, validate's output and exit codes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lockgate.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found.extend(_commands(cmd, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "lockgate")
def test_help_on_every_command(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_the_spec_commands_exist() -> None:
    assert {"serve", "validate", "mock-upstream", "tenants", "apps", "keys"} <= set(main.commands)


def test_validate_ok(tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_text(
        "version: 1\nproviders: {demo: {type: mock}}\n"
        "models: {m: {deployments: [{provider: demo, model: x}]}}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(f)])
    assert result.exit_code == 0
    assert "valid" in result.output


def test_validate_reports_every_problem_with_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "version: 1\n"
        "providers: {demo: {type: mock, colour: red}}\n"
        "models:\n"
        "  m: {deployments: [{provider: nobody, model: x}], fallbacks: [ghost]}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(f)])
    assert result.exit_code == 1
    out = result.output
    assert "line 2" in out and "unknown key 'colour'" in out
    assert "line 4" in out and "unknown provider 'nobody'" in out
    assert "ghost" in out
    assert "3 problem(s)" in out


def test_validate_never_prints_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LG_TEST_PORT", "not-a-port-s3cr3t")
    f = tmp_path / "env.yaml"
    f.write_text("version: 1\nserver: {port: '${env:LG_TEST_PORT}'}\n")
    result = CliRunner().invoke(main, ["validate", str(f)])
    assert result.exit_code == 1
    assert "s3cr3t" not in result.output
    assert "LG_TEST_PORT" in result.output


def test_validate_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml" in result.output
