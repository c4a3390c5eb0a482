from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lockgate.admin.cli import identity_commands
from lockgate.store import Store


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("lockgate")
    for command in identity_commands():
        group.add_command(command)
    return group


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli/lockgate.db"


def run(cli: click.Group, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_tenants_apps_keys_lifecycle(cli: click.Group, url: str) -> None:
    s = ("--storage", url, "--json")
    t = json.loads(run(cli, "tenants", "create", "acme", "--plan", "free", "--residency", "eu",
                       "--attr", "department=finance", "--attr", "level=3", *s))  # fmt: skip
    assert t["attributes"] == {"department": "finance", "level": 3} and t["residency"] == ["eu"]
    assert [x["name"] for x in json.loads(run(cli, "tenants", "list", *s))] == ["acme"]
    app = json.loads(run(cli, "apps", "create", "acme", "bot", "--role", "production", *s))
    assert json.loads(run(cli, "tenants", "show", "acme", *s))["apps"][0]["id"] == app["id"]
    assert [a["name"] for a in json.loads(run(cli, "apps", "list", "acme", *s))] == ["bot"]

    key = json.loads(run(cli, "keys", "create", app["id"], "--name", "ci", *s))
    assert key["key"].startswith("lg-") and key["prefix"] == key["key"][:10]
    listed = run(cli, "keys", "list", app["id"], *s)
    assert key["prefix"] in listed and key["key"] not in listed and "hash" not in listed
    new = json.loads(run(cli, "keys", "rotate", key["id"], "--grace", "5", *s))
    assert new["rotated_from"] == key["id"]
    revoked = json.loads(run(cli, "keys", "revoke", new["id"], *s))
    assert revoked["revoked_at"] is not None

    store = Store(url)
    try:
        live = {k.id for k in store.load_identity().keys}
    finally:
        store.close()
    assert live == {key["id"]}  # the rotated-out key, in its grace period

    run(cli, "apps", "delete", app["id"], "--storage", url)
    run(cli, "tenants", "delete", "acme", "--yes", "--storage", url)
    assert json.loads(run(cli, "tenants", "list", *s)) == []


def test_text_output_prints_the_secret_once(cli: click.Group, url: str) -> None:
    run(cli, "tenants", "create", "acme", "--storage", url)
    line = run(cli, "apps", "create", "acme", "bot", "--storage", url)
    app_id = line.split("\t")[0]
    out = run(cli, "keys", "create", app_id, "--storage", url)
    secret = out.split("key: ")[1].strip()
    assert secret.startswith("lg-")
    assert secret not in run(cli, "keys", "list", app_id, "--storage", url)


def test_errors_exit_non_zero_with_a_message(cli: click.Group, url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["tenants", "show", "nope", "--storage", url])
    assert result.exit_code == 1 and "tenant 'nope' not found" in result.output
    run(cli, "tenants", "create", "acme", "--storage", url)
    result = runner.invoke(cli, ["tenants", "create", "acme", "--storage", url])
    assert result.exit_code == 1 and "already exists" in result.output


def test_storage_from_env_and_config(
    cli: click.Group, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_STORAGE", url)
    run(cli, "tenants", "create", "acme")
    config = tmp_path / "lockgate.yaml"
    config.write_text(f"version: 1\nstorage: {url}\nplans:\n  free: {{}}\n")
    monkeypatch.delenv("LOCKGATE_STORAGE")
    assert "acme" in run(cli, "tenants", "list", "--config", str(config))
    result = CliRunner().invoke(
        cli, ["tenants", "create", "x", "--plan", "gold", "--config", str(config)]
    )
    assert result.exit_code == 2 and "unknown plan" in result.output


def test_every_command_has_help(cli: click.Group) -> None:
    for group in identity_commands():
        assert isinstance(group, click.Group)
        for name in group.commands:
            result = CliRunner().invoke(cli, [group.name or "", name, "--help"])
            assert result.exit_code == 0 and "--storage" in result.output


def test_admin_keys_commands(cli: click.Group, url: str) -> None:
    s = ("--storage", url, "--json")
    run(cli, "tenants", "create", "acme", *s)
    created = json.loads(run(cli, "admin-keys", "create", "tenant-admin", "--tenant", "acme", *s))
    assert created["key"].startswith("lga-") and created["tenant"] == "acme"
    listed = run(cli, "admin-keys", "list", "--tenant", "acme", *s)
    assert created["id"] in listed and created["key"] not in listed
    run(cli, "admin-keys", "revoke", created["id"], *s)
    assert json.loads(run(cli, "admin-keys", "list", *s))[0]["revoked_at"] is not None
    result = CliRunner().invoke(cli, ["admin-keys", "create", "developer", "--storage", url])
    assert result.exit_code == 1 and "needs a tenant" in result.output


def test_url_needs_an_admin_key(cli: click.Group, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCKGATE_ADMIN_KEY", raising=False)
    result = CliRunner().invoke(cli, ["tenants", "list", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "--admin-key" in result.output
    result = CliRunner().invoke(
        cli, ["tenants", "list", "--url", "http://127.0.0.1:9", "--admin-key", "k"]
    )
    assert result.exit_code == 1 and "cannot reach the gateway" in result.output


def test_cli_refuses_what_the_admin_api_refuses(cli: click.Group, url: str) -> None:
    s = ("--storage", url)
    for name in ("ab\n", ".", ".."):
        result = CliRunner().invoke(cli, ["tenants", "create", name, *s])
        assert result.exit_code == 1 and "name must be 1-64 characters" in result.output
    run(cli, "tenants", "create", "acme", *s)
    app = json.loads(run(cli, "apps", "create", "acme", "bot", *s, "--json"))
    result = CliRunner().invoke(
        cli, ["keys", "create", app["id"], "--expires-at", "2001-01-01", *s]
    )
    assert result.exit_code == 2 and "expires_at is in the past" in result.output
    assert json.loads(run(cli, "keys", "list", app["id"], *s, "--json")) == []
