"""Faults a real projector process must survive: a crash mid-backlog, a dropped LISTEN
connection, and a second copy of the same projection (hot standby that takes over)."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import pytest

from ledger.application import Ledger
from ledger.commands import AdjustStock
from tests.processes import stop, wait_until
from tests.projector_process import (
    caught_up,
    create_product,
    head,
    positions,
    projector,
    rebuilt_snapshot,
    snapshot,
    start_projector,
)

BULK_PRODUCTS = 1_500


def _bulk_backlog(ledger: Ledger, url: str, products: int) -> int:
    """Appends `products` copies of a real product's history (created, then stock received
    twice) by plain SQL, in aggregate order: thousands of valid events in a moment. Returns the
    store's head."""
    create_product(ledger, "prod_tpl", stock=10)
    ledger.adjust_stock(AdjustStock("prod_tpl", 5, "delivery"))
    ledger.adjust_stock(AdjustStock("prod_tpl", 2, "delivery"))
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic, state) "
            "SELECT 'prod_bulk_' || i, e.originator_version, e.topic, e.state "
            "FROM generate_series(1, %s) AS i, ledger_events AS e "
            "WHERE e.originator_id = 'prod_tpl' ORDER BY i, e.originator_version",
            (products,),
        )
    return head(url)


def _listeners(url: str) -> list[int]:
    """Backends of this database whose last statement was a LISTEN (the projector's listener
    shows `LISTEN ledger_events` while it waits for notifications)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE 'LISTEN%'"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.slow
def test_a_projector_killed_mid_backlog_resumes_without_loss_or_doubles(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    target = _bulk_backlog(ledger, url, BULK_PRODUCTS)
    assert target > 4_000

    crashed = start_projector(url, tmp_path, ("products", "inventory"), batch_size=5)
    try:
        wait_until(
            lambda: min(positions(url).get(n, 0) for n in ("products", "inventory")) > 200,
            what="the projector to advance",
        )
    finally:
        stop(crashed, signal.SIGKILL)
    at_crash = positions(url)
    assert min(at_crash["products"], at_crash["inventory"]) < target, "killed too late"

    with projector(url, tmp_path, ("products", "inventory"), batch_size=50):
        wait_until(caught_up(url, ["products", "inventory"]), timeout=60, what="catch-up")
    live = snapshot(url)
    with psycopg.connect(url) as conn:
        [(rows, received)] = conn.execute(
            "SELECT count(*), sum(received_total) FROM inventory"
        ).fetchall()
    # Each copy received 10 + 5 + 2: any event applied twice would show in the sum.
    assert (rows, received) == (BULK_PRODUCTS + 1, (BULK_PRODUCTS + 1) * 17)
    rebuilt = rebuilt_snapshot(url)
    assert rebuilt["products"] == live["products"]
    assert rebuilt["inventory"] == live["inventory"]


@pytest.mark.slow
def test_a_projector_keeps_up_after_its_listen_connection_is_terminated(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    create_product(ledger, "prod_a", stock=1)
    with projector(url, tmp_path, ("inventory",), poll_seconds=1.0):
        wait_until(caught_up(url, ["inventory"]), what="the first event")
        wait_until(lambda: len(_listeners(url)) == 1, what="the projector to LISTEN")
        [listener] = _listeners(url)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (listener,))

        for n in range(5):
            ledger.adjust_stock(AdjustStock("prod_a", 1, f"delivery {n}"))
        wait_until(caught_up(url, ["inventory"]), what="the projector to keep up")
        # And it listens again, on a new connection.
        wait_until(lambda: _listeners(url) not in ([], [listener]), what="a new LISTEN")
        ledger.adjust_stock(AdjustStock("prod_a", 1, "one more"))
        wait_until(caught_up(url, ["inventory"]), what="the next event")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT on_hand, received_total FROM inventory").fetchone()
    assert row == (7, 7)


def _leads(log: Path) -> bool:
    return "projector leading" in log.read_text(errors="replace")


@pytest.mark.slow
def test_a_second_copy_stays_standby_and_takes_over_when_the_leader_dies(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    create_product(ledger, "prod_a", stock=0)
    leader = start_projector(url, first_dir, ("inventory",))
    standby = start_projector(url, second_dir, ("inventory",))
    try:
        first_log, second_log = (next(d.glob("projector-*.log")) for d in (first_dir, second_dir))
        wait_until(lambda: _leads(first_log) or _leads(second_log), what="a leader")
        if _leads(second_log):  # whichever won the lock is the leader
            leader, standby = standby, leader
            first_log, second_log = second_log, first_log
        wait_until(
            lambda: "projectors running" in second_log.read_text(), what="the standby to start"
        )
        for n in range(5):
            ledger.adjust_stock(AdjustStock("prod_a", 2, f"delivery {n}"))
        wait_until(caught_up(url, ["inventory"]), what="the leader to apply")
        assert not _leads(second_log)
        assert _lock_holders(url, "inventory") == 1

        stop(leader, signal.SIGKILL)
        for n in range(3):
            ledger.adjust_stock(AdjustStock("prod_a", 1, f"after the crash {n}"))
        wait_until(caught_up(url, ["inventory"]), what="the standby to take over")
        assert _leads(second_log)
    finally:
        stop(leader, signal.SIGKILL)
        stop(standby)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT on_hand, received_total FROM inventory").fetchone()
    # Applied exactly once, across both copies: 5 x 2 + 3 x 1.
    assert row == (13, 13)


def _lock_holders(url: str, name: str) -> int:
    """How many sessions hold the projection's advisory lock in this database."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
            "AND l.objid = (hashtext(%s)::bigint & 4294967295)::oid",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0
