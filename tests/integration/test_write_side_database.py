"""The write side's database plumbing on real PostgreSQL: timeouts that fail fast, and the
bootstrap helpers' errors."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from ledger import database
from ledger.application import Ledger
from ledger.commands import CreateProduct
from ledger.domain.errors import UnavailableError
from ledger.eventstore import EVENTS_TABLE, library_env, session_options
from ledger.settings import Settings

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens on port 1


def test_a_held_table_lock_fails_a_command_fast_and_leaves_nothing(database_url: str) -> None:
    settings = Settings(ledger_env="test", ledger_lock_timeout_seconds=0.3)
    ledger = Ledger(settings, database_url, pool_size=1)
    command = CreateProduct(name="A", description="d", price=1, category="c", product_id="prod_l")
    try:
        with psycopg.connect(database_url) as blocker:
            blocker.execute(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE")
            with pytest.raises(UnavailableError) as caught:
                ledger.create_product(command)
            assert caught.value.code == "SERVICE_UNAVAILABLE"
            blocker.rollback()
        # The failed attempt wrote nothing, so the same command now succeeds.
        assert ledger.create_product(command).aggregate_id == "prod_l"
    finally:
        ledger.close()


def test_session_limits_come_from_the_settings() -> None:
    settings = Settings(
        ledger_env="test",
        ledger_lock_timeout_seconds=1.5,
        ledger_statement_timeout_seconds=20,
    )
    assert session_options(settings) == "-c lock_timeout=1500 -c statement_timeout=20000"
    env = library_env("postgresql://u:p@db.internal:6543/shop", settings, pool_size=3)
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.internal",
        "6543",
        "shop",
    )
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("u", "p")
    assert env["POSTGRES_POOL_SIZE"] == "3"
    assert env["CREATE_TABLE"] == "no"  # Alembic owns the tables


def test_the_configured_url_is_used_as_is() -> None:
    settings = Settings(ledger_env="test", database_url="postgresql://a@127.0.0.1/b")
    assert database.database_url(settings) == "postgresql://a@127.0.0.1/b"


def test_url_helpers() -> None:
    url = "postgresql://a:b@127.0.0.1:5432/one?sslmode=disable"
    assert (
        database.with_database(url, "two") == "postgresql://a:b@127.0.0.1:5432/two?sslmode=disable"
    )
    assert database.sqlalchemy_url(url).startswith("postgresql+psycopg://a:b@127.0.0.1")


def test_migrating_an_unreachable_database_is_a_database_error() -> None:
    with pytest.raises(database.DatabaseError, match="migration failed"):
        database.upgrade(UNREACHABLE)


def test_an_embedded_server_that_cannot_start_is_a_database_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder's parent should be")
    with pytest.raises(database.DatabaseError, match="could not start the embedded PostgreSQL"):
        database.embedded_url(blocker / "pgdata")


def test_create_and_drop_a_database(server_url: str) -> None:
    name = "ledger_test_create_drop"
    database.drop_database(server_url, name)
    database.create_database(server_url, name)
    database.create_database(server_url, name)  # a second create is a no-op
    with psycopg.connect(database.with_database(server_url, name)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (name,)
    database.drop_database(server_url, name)
    with psycopg.connect(server_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert found is None
