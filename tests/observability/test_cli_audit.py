"""Identity changes made with the CLI are audited like the admin API's."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from lockgate.cli import main
from lockgate.store import Store
from lockgate.store.audit_repo import AuditFilters, AuditRepo


def test_cli_mutations_are_in_the_audit_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner().invoke
    assert run(main, ["tenants", "create", "acme", "--storage", url]).exit_code == 0
    out = run(main, ["apps", "create", "acme", "bot", "--storage", url, "--json"])
    app_id = orjson.loads(out.output)["id"]
    out = run(main, ["keys", "create", app_id, "--storage", url, "--json"])
    created = orjson.loads(out.output)
    assert run(main, ["keys", "revoke", created["id"], "--storage", url]).exit_code == 0
    assert run(main, ["tenants", "list", "--storage", url]).exit_code == 0  # a read: no entry

    store = Store(url)
    try:
        repo = AuditRepo(store.engine)
        rows, _ = repo.list(AuditFilters())
        assert repo.verify().ok
    finally:
        store.close()
    assert [r["action"] for r in reversed(rows)] == [
        "create_tenant",
        "create_app",
        "create_key",
        "revoke_key",
    ]
    assert all(r["actor"].startswith("cli:") and r["tenant"] == "acme" for r in rows)
    key_entry = rows[1]
    assert key_entry["after"]["id"] == created["id"] and created["key"] not in str(rows)
    revoke = rows[0]
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"]
