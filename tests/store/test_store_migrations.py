from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from lockgate.store import Store, normalize_url
from lockgate.store.schema import Base


def test_migrations_create_every_table_and_are_idempotent(store: Store) -> None:
    store.migrate()  # a second run is a no-op
    names = set(sa.inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) | {"alembic_version"} <= names
    assert store.identity_version() >= 1


def test_orm_columns_match_the_migration(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    for name, table in Base.metadata.tables.items():
        migrated = {c["name"]: c["nullable"] for c in inspector.get_columns(name)}
        declared = {c.name: c.nullable for c in table.columns}
        assert migrated == declared, name


def test_sqlite_parent_directory_is_created(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/a/b/lockgate.db")
    store.migrate()
    store.ping()
    store.close()
    assert (tmp_path / "a" / "b" / "lockgate.db").exists()


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_pg_schema_holds_the_alembic_version_table(pg_store: Store) -> None:
    with pg_store.engine.connect() as conn:
        schema = conn.execute(sa.text("select current_schema()")).scalar_one()
        found = conn.execute(
            sa.text(
                "select table_schema from information_schema.tables"
                " where table_name = 'alembic_version' and table_schema = :s"
            ),
            {"s": schema},
        ).all()
    assert schema.startswith("lockgate_test_")
    assert found
