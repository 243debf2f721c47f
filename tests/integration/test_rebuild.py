"""Rebuilds while writers and the live projectors keep going: the swapped-in tables equal what
the live ones would hold, readers never see an empty table, and index names survive."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

import projections
from ledger.application import Ledger
from ledger.commands import AdjustStock
from projections.rebuild import rebuild
from projections.registry import resolve
from projections.worker import run_workers
from tests.projector_process import (
    READ_TABLES,
    caught_up,
    create_product,
    head,
    place_order,
    rebuilt_snapshot,
    snapshot,
    transition,
)
from tests.support import wait_until


def _indexes(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = ANY(%s) ORDER BY 1, 2",
            (list(READ_TABLES),),
        ).fetchall()


def _keep_writing(ledger: Ledger, stop: threading.Event, errors: list[BaseException]) -> None:
    n = 0
    try:
        while not stop.is_set():
            create_product(ledger, f"prod_w{n}", stock=5)
            place_order(ledger, f"ord_w{n}", {f"prod_w{n}": 2, "prod_base": 1})
            transition(ledger, f"ord_w{n}", "confirm")
            ledger.adjust_stock(AdjustStock("prod_base", 1, "delivery"))
            n += 1
    except BaseException as exc:  # reported by the test, not lost in the thread
        errors.append(exc)


def _keep_counting(
    url: str, stop: threading.Event, seen: list[int], errors: list[BaseException]
) -> None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute("SELECT count(*) FROM products").fetchone()
                seen.append(int(row[0]) if row else -1)
    except BaseException as exc:  # a reader must not fail during the swap either
        errors.append(exc)


@pytest.mark.slow
def test_rebuild_during_writes_swaps_in_the_live_state_without_an_empty_table(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    create_product(ledger, "prod_base", stock=10_000)
    for n in range(30):
        create_product(ledger, f"prod_seed{n}")
    projections.catch_up(url)
    indexes_before = _indexes(url)

    stop, workers_stop = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    counts: list[int] = []
    threads = [
        threading.Thread(target=_keep_writing, args=(ledger, stop, errors)),
        threading.Thread(target=_keep_counting, args=(url, stop, counts, errors)),
    ]
    # The live projectors run in this process meanwhile, as a deployed worker would.
    workers = run_workers(url, resolve(None), workers_stop, poll_seconds=0.1)
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: head(url) > 150, what="writes under way")
        started_at = head(url)
        results = [rebuild(url, projection, batch_size=10) for projection in resolve(None)]
        assert head(url) > started_at, "the writers did not write during the rebuild"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    try:
        wait_until(caught_up(url), timeout=60, what="the live projectors")
    finally:
        workers_stop.set()
        for worker in workers:
            worker.join()

    assert errors == []
    assert all(r.events > 0 for r in results)
    assert counts, "the reader never ran"
    assert min(counts) >= 31  # never an empty (or half-built) products table
    assert _indexes(url) == indexes_before
    live = snapshot(url)
    # What the swapped-in tables hold, kept up since, is what a fresh rebuild gives.
    assert len(live["orders"]) > 0
    assert rebuilt_snapshot(url) == live
    assert _indexes(url) == indexes_before
