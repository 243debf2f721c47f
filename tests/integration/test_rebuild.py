"""Rebuilds while writers and the live projectors keep going: the swapped-in tables equal what
the live ones would hold, readers never see an empty table, and index names survive."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import projections
from ledger.application import Ledger
from ledger.commands import AdjustStock
from projections.rebuild import SHADOW, rebuild
from projections.registry import resolve
from projections.worker import run_workers
from tests.processes import wait_until
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
    try:
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
        wait_until(caught_up(url), timeout=60, what="the live projectors")
    finally:
        # Non-daemon workers left running would keep pytest from exiting after a failure.
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


def _append_copy(url: str, source: tuple[str, int], target: tuple[str, int], **put: Any) -> int:
    """Appends a copy of a stored event under another aggregate id and version, by plain SQL,
    with some fields replaced (a poison event, or one the domain would never write)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic, state) "
            "SELECT %s, %s, topic, convert_to("
            "((convert_from(state, 'UTF8')::jsonb) || %s)::text, 'UTF8') "
            "FROM ledger_events WHERE originator_id = %s AND originator_version = %s "
            "RETURNING notification_id",
            (*target, Jsonb(put), *source),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _dead_letters(url: str) -> list[tuple[Any, ...]]:
    """Every dead letter; its error as the live tables would name them (a rebuild's name the
    shadow tables it wrote)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT projection, position, originator_id, originator_version, topic, "
            "replace(error, %s, '') FROM projection_dead_letters ORDER BY projection, position",
            (SHADOW,),
        ).fetchall()


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_a_rebuild_parks_what_the_live_projector_parks_and_equals_it_otherwise(
    ledger: Ledger, database_url: str, batch_size: int
) -> None:
    """A handler that raises, a row the database refuses, later events of those aggregates,
    and a second creation of an existing row (which COPY into the shadow cannot load): the
    rebuild's fast path hands each to the live projector's Applier and ends where it does."""
    url = database_url
    create_product(ledger, "prod_tpl", stock=10)
    ledger.adjust_stock(AdjustStock("prod_tpl", 5, "delivery"))
    create_product(ledger, "prod_ok", stock=3)
    place_order(ledger, "ord_ok", {"prod_ok": 2})
    _append_copy(url, ("prod_tpl", 1), ("prod_null", 1), price=None)  # NOT NULL refuses it
    _append_copy(url, ("prod_tpl", 2), ("prod_null", 2))  # parked behind it
    _append_copy(url, ("prod_tpl", 1), ("prod_ok", 9), name="Created again")  # a re-upsert
    _append_copy(url, ("ord_ok", 1), ("ord_twice", 1))
    _append_copy(url, ("ord_ok", 1), ("ord_twice", 2), items=[{"product_id": "prod_ok"}])
    create_product(ledger, "prod_after", stock=1)
    place_order(ledger, "ord_after", {"prod_after": 1})

    projections.catch_up(url)
    live, live_parked = snapshot(url), _dead_letters(url)
    assert {row[0] for row in live_parked} == {"products", "inventory", "orders"}
    assert ("Created again",) in {(row[1],) for row in live["products"]}

    results = [rebuild(url, p, batch_size=batch_size) for p in resolve(None)]

    assert snapshot(url) == live
    assert _dead_letters(url) == live_parked
    assert sum(r.parked for r in results) == len(live_parked)
    assert {r.events for r in results} == {head(url)}  # the whole store, every projection
