"""Fresh databases for each benchmark, on the configured server or an embedded one."""

from __future__ import annotations

from pathlib import Path

import psycopg

from ledger import database
from ledger.application import Ledger
from ledger.commands import AdjustStock
from ledger.demo import demo_products, seed_demo
from ledger.settings import Settings

PREFIX = "ledger_bench_"
EMBEDDED_DIR = Path(".ledger") / "bench-postgres"
# Enough stock on every demo product that no benchmark ever runs a product dry.
BENCH_STOCK = 100_000_000
# The one signing and data-key secret of every bench process: a projector or API started with
# another could not open the data keys the in-process ledger made (and would project nothing).
BENCH_SECRET = "b" * 48


def server(configured: str | None) -> str:
    """A server URL to create databases on (the configured one, or an embedded server)."""
    if configured:
        return configured
    return database.embedded_url(EMBEDDED_DIR.resolve(), "postgres")


def fresh(server_url: str, name: str, *, migrate: bool = True) -> str:
    """Drops and recreates `ledger_bench_<name>`; migrates it unless told not to."""
    full = PREFIX + name
    database.drop_database(server_url, full)
    database.create_database(server_url, full)
    url = database.with_database(server_url, full)
    if migrate:
        database.upgrade(url)
    return url


def drop(server_url: str, name: str) -> None:
    database.drop_database(server_url, PREFIX + name)


def bench_settings() -> Settings:
    # A test environment: no production secrets needed, same code paths otherwise.
    return Settings(ledger_env="test", ledger_secret_key=BENCH_SECRET)


def bench_env(url: str) -> dict[str, str]:
    """The environment of a ledger process on `url` that shares `bench_settings()`."""
    return {"DATABASE_URL": url, "LEDGER_ENV": "test", "LEDGER_SECRET_KEY": BENCH_SECRET}


def seeded_ledger(url: str, pool_size: int = 16) -> Ledger:
    """A Ledger on `url` with the demo catalog, every product stocked for the whole run."""
    ledger = Ledger(bench_settings(), url, pool_size=pool_size)
    seed_demo(ledger)
    for product in demo_products():
        assert product.product_id is not None
        ledger.adjust_stock(AdjustStock(product.product_id, BENCH_STOCK, "benchmark stock"))
    return ledger


def event_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_events").fetchone()
        return int(row[0]) if row else 0


def vacuum_analyze(url: str) -> None:
    """Fresh statistics after a bulk load, as autovacuum would give a long-running store."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
