"""A database crash after a projector commit: what read-your-writes promised must survive.

The API acknowledges a write once the projections serving it reached its position (a NOTIFY
sent at the projector's commit), and a GET with `X-Ledger-Consistency: N` trusts positions
it has heard. If a projector commit could be lost in a crash after readers saw it, the
restarted database would serve older rows than the API had acknowledged, without
`X-Ledger-Stale`. So projector commits are durable (synchronous) like the store's."""

from __future__ import annotations

from pathlib import Path

import psycopg

from ledger.application import Ledger
from tests.data import make_settings
from tests.processes import wait_for_projection
from tests.projector_process import create_product, head, positions, projector
from tests.servers import PostgresServer


def test_a_projection_position_readers_saw_survives_a_database_crash(
    own_postgres: PostgresServer, tmp_path: Path
) -> None:
    url = own_postgres.url
    with psycopg.connect(url, autocommit=True) as conn:
        # A WAL writer that flushes only every 10 s: an unflushed commit is lost in a crash.
        conn.execute("ALTER SYSTEM SET wal_writer_delay = '10s'")
        conn.execute("SELECT pg_reload_conf()")
    ledger = Ledger(make_settings(), url, pool_size=2)
    try:
        create_product(ledger, "prod_durable")
    finally:
        ledger.close()
    target = head(url)
    with projector(url, tmp_path, ("products",)):
        wait_for_projection(url, "products", target)
        seen = positions(url)["products"]
        own_postgres.stop("immediate")
    own_postgres.start()
    assert positions(url)["products"] == seen >= target
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM products WHERE id = 'prod_durable'").fetchone()
    assert row == (1,)
