"""The audit chain: appended in order, append-only in the database, and every tampering found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from lockgate.cli import main
from lockgate.store import Store
from lockgate.store.audit_repo import GENESIS, AuditEntry, AuditFilters, AuditRepo, entry_hash

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def entries(n: int, tenant: str = "acme") -> list[AuditEntry]:
    return [
        AuditEntry(
            ts=T0 + timedelta(seconds=i),
            actor_type="admin",
            actor=f"adk_{i}",
            action="update_tenant",
            role="platform-admin",
            tenant=tenant,
            target=f"/tenants/{tenant}",
            status=200,
            before='{"plan":"free"}',
            after='{"plan":"pro"}',
        )
        for i in range(n)
    ]


@pytest.fixture
def repo(store: Store) -> AuditRepo:
    """An empty chain: other tests sharing the PostgreSQL schema may have appended to it."""
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:  # TRUNCATE is not refused by the trigger
            conn.execute(sa.text("TRUNCATE audit_log"))
            conn.execute(sa.text("UPDATE audit_head SET seq = 0, hash = :g"), {"g": GENESIS})
    return AuditRepo(store.engine)


def unguard(repo: AuditRepo) -> None:
    """What an attacker with DDL rights does first: drop the append-only triggers."""
    with repo.engine.begin() as conn:
        if repo.engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP TRIGGER audit_log_append_only ON audit_log"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
            conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))


def reguard(repo: AuditRepo) -> None:
    if repo.engine.dialect.name == "postgresql":
        with repo.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
                )
            )


def test_appends_chain_and_verify(repo: AuditRepo) -> None:
    assert repo.append(entries(3)) == [1, 2, 3]
    assert repo.append(entries(2, "globex")) == [4, 5]
    verdict = repo.verify()
    assert verdict.ok and verdict.rows == 5 and verdict.head_seq == 5
    rows, cursor = repo.list(AuditFilters(limit=2))
    assert [r["seq"] for r in rows] == [5, 4] and cursor == 4
    rows, cursor = repo.list(AuditFilters(limit=10, before_seq=cursor, tenant="acme"))
    assert [r["seq"] for r in rows] == [3, 2, 1] and cursor is None
    assert rows[0]["before"] == {"plan": "free"} and rows[0]["time"].endswith("Z")
    first = rows[-1]
    assert first["hash"] == entry_hash(GENESIS, entries(1)[0])


def test_the_database_refuses_edits_and_deletes(repo: AuditRepo) -> None:
    repo.append(entries(2))
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), repo.engine.begin() as c:
            c.execute(sa.text(statement))
    assert repo.verify().ok


def test_verify_finds_an_edited_row(repo: AuditRepo) -> None:
    repo.append(entries(5))
    unguard(repo)
    with repo.engine.begin() as conn:
        conn.execute(sa.text('UPDATE audit_log SET after = \'{"plan":"free"}\' WHERE seq = 3'))
    reguard(repo)
    v = repo.verify()
    assert (v.ok, v.seq, v.kind) == (False, 3, "edited")


def test_verify_finds_a_deleted_row_in_the_middle_and_at_the_end(repo: AuditRepo) -> None:
    repo.append(entries(5))
    unguard(repo)
    with repo.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 5"))
    v = repo.verify()
    assert (v.ok, v.seq, v.kind) == (False, 5, "deleted")
    with repo.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
    v = repo.verify()
    assert (v.ok, v.seq, v.kind) == (False, 2, "deleted")
    reguard(repo)


def test_verify_finds_an_inserted_row_even_when_later_rows_are_renumbered(repo: AuditRepo) -> None:
    repo.append(entries(4))
    unguard(repo)
    with repo.engine.begin() as conn:
        prev = conn.execute(sa.text("SELECT hash FROM audit_log WHERE seq = 2")).scalar_one()
        conn.execute(sa.text("UPDATE audit_log SET seq = -seq WHERE seq >= 3"))
        conn.execute(sa.text("UPDATE audit_log SET seq = 1 - seq WHERE seq < 0"))
        forged = entries(1, "evil")[0]
        conn.execute(
            sa.text(
                "INSERT INTO audit_log"
                " (seq, ts, actor_type, actor, action, tenant, prev_hash, hash)"
                " VALUES (3, :ts, 'admin', 'adk_0', 'update_tenant', 'evil', :prev, :hash)"
            ),
            {"ts": forged.ts, "prev": prev, "hash": "f" * 64},
        )
    v = repo.verify()
    assert (v.ok, v.seq, v.kind) == (False, 3, "edited")  # its hash is not its content's
    # A forger who also computes the row's hash correctly is caught by the next link.
    with repo.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 3"))
        good = AuditEntry(
            ts=forged.ts,
            actor_type="admin",
            actor="adk_0",
            action="update_tenant",
            tenant="evil",
        )
        conn.execute(
            sa.text(
                "INSERT INTO audit_log"
                " (seq, ts, actor_type, actor, action, tenant, prev_hash, hash)"
                " VALUES (3, :ts, 'admin', 'adk_0', 'update_tenant', 'evil', :prev, :hash)"
            ),
            {"ts": good.ts, "prev": prev, "hash": entry_hash(prev, good)},
        )
    reguard(repo)
    v = repo.verify()
    assert (v.ok, v.seq, v.kind) == (False, 3, "inserted")


def test_audit_verify_command(store: Store) -> None:
    repo = AuditRepo(store.engine)
    repo.append(entries(3))
    url = str(store.engine.url)
    result = CliRunner().invoke(main, ["audit", "verify", "--storage", url])
    assert result.exit_code == 0 and "audit log intact: 3 rows" in result.output
    unguard(repo)
    with repo.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2"))
    result = CliRunner().invoke(main, ["audit", "verify", "--storage", url])
    assert result.exit_code == 1
    assert "BROKEN at row 2: edited" in result.output
    result = CliRunner().invoke(main, ["audit", "list", "--storage", url, "--json"])
    assert result.exit_code == 0 and '"seq": 3' in result.output
