"""``lockgate apis`` and ``lockgate subscriptions`` straight on the store (the same commands
against a running gateway are run by tests/e2e/test_api_products.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from lockgate.cli import main
from lockgate.store import Store


def run(*args: str, ok: bool = True) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    if not ok:
        return result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_the_lifecycle_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    store = Store(url)
    store.migrate()
    store.create_tenant("acme")
    app = store.create_app("acme", "bot").id
    s = ("--storage", url, "--json")
    api = run("apis", "create", "summarize", "--tenant", "acme", "--description", "Short", *s)
    assert (api["tenant"], api["subscription"]) == ("acme", "manual")
    schema = '{"type": "object", "required": ["text"]}'
    v = run("apis", "add-version", "summarize", "--model", "m", "--template", "Sum: {{ text }}",
            "--input-schema", schema, *s)  # fmt: skip
    assert (v["version"], v["status"]) == (1, "draft")
    assert run("apis", "publish", "summarize", "v1", *s)["status"] == "published"
    out = run("apis", "list", "--storage", url)
    assert "summarize\towner=acme\tsubscription=manual\tstore\tv1 published" in out
    sub = run("subscriptions", "request", app, "summarize", "--reason", "pls", *s)
    assert sub["status"] == "pending"
    assert run("subscriptions", "list", "--status", "pending", *s)[0]["id"] == sub["id"]
    done = run("subscriptions", "approve", sub["id"], "--reason", "ok", "--plan", "gold", *s)
    assert (done["status"], done["plan"], done["decided_by"]) == ("active", "gold", "cli")
    assert store.load_identity().products.subscriptions[0].status == "active"
    run("apis", "add-version", "summarize", "--model", "m", "--template", "v2: {{ text }}", *s)
    run("apis", "publish", "summarize", "2", *s)
    dep = run(
        "apis", "deprecate", "summarize", "1", "--sunset", "2027-06-30", "--successor", "2", *s
    )
    assert dep["sunset"].startswith("2027-06-30") and dep["successor"] == 2
    assert run("apis", "retire", "summarize", "v1", *s)["status"] == "retired"
    shown = run("apis", "show", "summarize", "--storage", url)
    assert "summarize v1\tretired\tmodel=m\tsunset=2027-06-30\tsuccessor=v2" in shown
    assert run("subscriptions", "revoke", sub["id"], *s)["status"] == "revoked"
    assert "cannot publish" in run("apis", "publish", "summarize", "v1", "--storage", url, ok=False)
    assert "not a version" in run(
        "apis", "retire", "summarize", "latest", "--storage", url, ok=False
    )
    store.close()


def test_config_apis_are_listed_and_read_only(tmp_path: Path) -> None:
    config = tmp_path / "lockgate.yaml"
    config.write_text(
        f"""\
version: 1
storage: sqlite:///{tmp_path}/cfg.db
providers: {{demo: {{type: mock}}}}
models: {{m: {{deployments: [{{provider: demo, model: x}}]}}}}
apis:
  translate: {{version: 1, model: m, template: "Translate {{{{ text }}}}", subscription: auto}}
"""
    )
    store = Store(f"sqlite:///{tmp_path}/cfg.db")
    store.migrate()
    store.create_tenant("acme")
    app = store.create_app("acme", "bot").id
    store.close()
    c = ("--config", str(config), "--json")
    [api] = run("apis", "list", *c)
    assert (api["name"], api["source"]) == ("translate", "config")
    assert "change it there" in run(
        "apis", "retire", "translate", "1", "--config", str(config), ok=False
    )
    assert run("subscriptions", "request", app, "translate", *c)["status"] == "active"
