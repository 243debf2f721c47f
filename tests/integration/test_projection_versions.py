"""Read-model versions (issue #13): a projector applies events only to tables its own
projection version built, a rebuild's swap records its version, and `ledger dev` rebuilds
what another version built. The whole workflow under load is
tests/reliability/test_read_model_change.py."""

from __future__ import annotations

import threading

import psycopg
import pytest

from ledger.application import Ledger
from ledger_cli.dev import _rebuild_other_versions
from projections import positions
from projections.orders import OrdersProjection
from projections.rebuild import rebuild
from projections.status import read_status
from projections.worker import run_workers
from tests.processes import wait_until
from tests.projector_process import caught_up, create_product, place_order


class OrdersV2(OrdersProjection):
    version = 2


def _built(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT position, version FROM projection_positions WHERE name = 'orders'"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _project(url: str, projection: OrdersProjection) -> None:
    stop = threading.Event()
    threads = run_workers(url, [projection], stop, poll_seconds=0.05)
    try:
        wait_until(caught_up(url, ["orders"]), timeout=10, what="orders projected")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def test_a_projector_stands_by_beside_tables_of_another_version(
    ledger: Ledger, database_url: str
) -> None:
    create_product(ledger, "prod_v")
    place_order(ledger, "ord_v1", {"prod_v": 1})
    _project(database_url, OrdersProjection())
    position, version = _built(database_url)
    assert version == 1

    place_order(ledger, "ord_v2", {"prod_v": 1})
    stop = threading.Event()
    threads = run_workers(database_url, [OrdersV2()], stop, poll_seconds=0.05)
    try:
        stop.wait(1.0)
        assert _built(database_url) == (position, 1), "version 2 left version 1's tables alone"
        refused = pytest.raises(positions.VersionMismatchError, match="projections rebuild")
        with psycopg.connect(database_url) as conn, refused:
            positions.lock(conn, "orders", 2)

        rebuild(database_url, OrdersV2())  # its swap records version 2: the worker leads
        wait_until(caught_up(database_url, ["orders"]), timeout=10, what="version 2 leading")
        assert _built(database_url)[1] == 2
        with psycopg.connect(database_url) as conn:
            (status,) = read_status(conn, ["orders"])  # as this release (version 1) sees it
            with pytest.raises(positions.VersionMismatchError, match="newer release"):
                positions.lock(conn, "orders", 1)
        assert (status.state, status.version) == ("newer release", 2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def test_a_projection_not_built_yet_takes_any_version(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert positions.lock(conn, "orders", 3) == 0
        conn.commit()
        assert positions.lock(conn, "orders", 2) == 0
        conn.commit()
    assert _built(database_url) == (0, 2)


def test_dev_rebuilds_what_another_version_built(ledger: Ledger, database_url: str) -> None:
    create_product(ledger, "prod_d")
    place_order(ledger, "ord_d", {"prod_d": 2})
    _project(database_url, OrdersProjection())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE projection_positions SET version = 7 WHERE name = 'orders'")
    _rebuild_other_versions(database_url)
    assert _built(database_url)[1] == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT id FROM orders").fetchall() == [("ord_d",)]
