"""Engine construction for SQLite and PostgreSQL, and running the packaged migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from .errors import ValidationError

DEFAULT_URL = "sqlite:///./.lockgate/lockgate.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """Map the URLs users write to SQLAlchemy drivers: PostgreSQL goes through psycopg 3."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(normalize_url(url))
    except Exception as exc:  # SQLAlchemy raises ArgumentError with the URL in it
        raise ValidationError("storage is not a database URL", field="storage") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed.render_as_string(hide_password=False), parsed.database)
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise ValidationError(
        f"unsupported storage backend {backend!r} (use sqlite:/// or postgresql://)",
        field="storage",
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 15})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # SQLite ignores ON DELETE CASCADE unless asked; WAL lets the gateway's poller read
        # while the CLI or the admin API writes.
        cur.execute("PRAGMA foreign_keys=ON")
        if database and database != ":memory:":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest packaged revision (idempotent)."""
    cfg = AlembicConfig()
    # ConfigParser interpolates '%'; escape it in case the install path contains one.
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
