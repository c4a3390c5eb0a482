"""Keyed hashes at rest: where the server secret comes from, and the upgrade from plain
SHA-256 rows that must keep working."""

from __future__ import annotations

import hashlib
import stat
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from lockgate.identity.index import KeyIndex
from lockgate.store import Store
from lockgate.store.engine import MIGRATIONS
from lockgate.store.keyhash import ENV_SECRET, KeyHasher, resolve


def test_sqlite_secret_is_generated_once_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db/lockgate.db"
    a, b = Store(url), Store(url)
    try:
        a.migrate()
        assert a.key_hasher().hash("lg-x") == b.key_hasher().hash("lg-x")
        secret = tmp_path / "db" / "lockgate.db.key-secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    finally:
        a.close()
        b.close()


def test_configured_and_environment_secrets_win(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    never = lambda: "unused"  # noqa: E731
    configured = resolve("a-configured-secret", url, never, env={ENV_SECRET: "from-the-env-0123"})
    from_env = resolve(None, url, never, env={ENV_SECRET: "from-the-env-0123"})
    assert configured.hash("k") == KeyHasher(b"a-configured-secret").hash("k")
    assert from_env.hash("k") == KeyHasher(b"from-the-env-0123").hash("k")
    assert not (tmp_path / "x.db.key-secret").exists()


def test_postgres_secret_lives_in_the_store_for_every_replica(pg_store: Store) -> None:
    other = Store(pg_store.url)
    try:
        assert pg_store.key_hasher().hash("lg-y") == other.key_hasher().hash("lg-y")
    finally:
        other.close()


def test_keys_from_before_keyed_hashing_keep_working_after_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    store = Store(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:  # a database as the first release left it
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    now = datetime.now(UTC)
    old_key, old_admin = "lg-" + "o" * 43, "lga-" + "a" * 43
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into tenants (id,name,plan,residency,attributes,created_at,"
                "updated_at) values ('t1','acme',null,'[]','{}',:n,:n)"
            ),
            {"n": now},
        )
        conn.execute(
            sa.text(
                "insert into apps (id,tenant_id,name,plan,roles,attributes,created_at,updated_at)"
                " values ('a1','t1','bot',null,'[]','{}',:n,:n)"
            ),
            {"n": now},
        )
        conn.execute(
            sa.text(
                "insert into api_keys (id,app_id,name,prefix,hash,created_at) values "
                "('k1','a1',null,:p,:h,:n)"
            ),
            {"p": old_key[:10], "h": hashlib.sha256(old_key.encode()).hexdigest(), "n": now},
        )
        conn.execute(
            sa.text(
                "insert into admin_keys (id,role,tenant_id,prefix,hash,created_at) values "
                "('ad1','platform-admin',null,:p,:h,:n)"
            ),
            {"p": old_admin[:10], "h": hashlib.sha256(old_admin.encode()).hexdigest(), "n": now},
        )
    store.migrate()  # to the newest revision
    new_key = store.create_key("a1").secret
    index = KeyIndex.from_snapshot(store.load_identity(), hasher=store.key_hasher())
    try:
        found = index.lookup(old_key)
        assert found is not None and found.key_id == "k1"
        assert index.lookup(new_key) is not None
        admin = index.admin_lookup(old_admin)
        assert admin is not None and admin.role == "platform-admin"
        # first use: the old hashes are replaced by keyed ones, and the keys still work
        before = store.identity_version()
        assert store.rehash_keys(index.upgrades) == 2
        assert store.rehash_keys(index.upgrades) == 0  # already upgraded: left alone
        assert store.identity_version() == before + 1
        snapshot = store.load_identity()
        assert {k.hash_kind for k in snapshot.keys} | {
            a.hash_kind for a in snapshot.admin_keys
        } == {"hmac"}
        with store.engine.connect() as conn:
            stored = {r[0] for r in conn.execute(sa.text("select hash from api_keys"))}
        assert hashlib.sha256(old_key.encode()).hexdigest() not in stored
        upgraded = KeyIndex.from_snapshot(snapshot, hasher=store.key_hasher())
        again = upgraded.lookup(old_key)
        assert again is not None and again.key_id == "k1" and not upgraded.upgrades
        assert upgraded.admin_lookup(old_admin) is not None and not upgraded.upgrades
        with store.engine.begin() as conn:  # and back down, data intact
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from api_keys")).scalar_one() == 2
    finally:
        store.close()
