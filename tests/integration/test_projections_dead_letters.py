"""Poison events: parked as dead letters with later events of their aggregate behind them,
while other aggregates carry on; once the cause is fixed, a retry applies them in order."""

from __future__ import annotations

from pathlib import Path

import psycopg

import projections
from ledger.application import Ledger
from ledger.commands import AdjustStock
from projections import dead_letters
from projections.applier import PARKED_BEHIND
from projections.registry import PROJECTIONS
from projections.status import read_status
from tests.projector_process import (
    copy_event,
    create_product,
    fix_event,
    head,
    place_order,
    rebuilt_snapshot,
    run_cli,
    snapshot,
)


def _parked(url: str, projection: str) -> list[tuple[int, str, int, str]]:
    with psycopg.connect(url) as conn:
        return [
            (d.position, d.originator_id, d.originator_version, d.error)
            for d in dead_letters.list_dead_letters(conn, projection)
        ]


def _ids(url: str, table: str, key: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT {key} FROM {table}").fetchall()  # noqa: S608 - constants
    return {r[0] for r in rows}


def test_a_poison_event_parks_its_aggregate_and_a_retry_applies_it_in_order(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    create_product(ledger, "prod_tpl", stock=10)
    ledger.adjust_stock(AdjustStock("prod_tpl", 5, "delivery"))
    ledger.adjust_stock(AdjustStock("prod_tpl", 1, "delivery"))
    # Missing a field the products handler reads (inventory does not need it): fails in the
    # handler. A null price fails in the database, for both products and inventory.
    bad_1 = copy_event(url, ("prod_tpl", 1), ("prod_bad", 1), drop=("description",))
    null_1 = copy_event(url, ("prod_tpl", 1), ("prod_null", 1), put={"price": None})
    bad_2 = copy_event(url, ("prod_tpl", 2), ("prod_bad", 2))
    null_2 = copy_event(url, ("prod_tpl", 2), ("prod_null", 2))
    create_product(ledger, "prod_ok", stock=3)
    place_order(ledger, "ord_ok", {"prod_ok": 2})

    projections.catch_up(url)

    parked = _parked(url, "products")
    assert [p[:3] for p in parked] == [
        (bad_1, "prod_bad", 1),
        (null_1, "prod_null", 1),
        (bad_2, "prod_bad", 2),
        (null_2, "prod_null", 2),
    ]
    assert parked[0][3] == "KeyError: 'description'"
    assert parked[1][3].startswith("NotNullViolation")
    assert parked[2][3] == parked[3][3] == PARKED_BEHIND
    assert [p[:3] for p in _parked(url, "inventory")] == [
        (null_1, "prod_null", 1),
        (null_2, "prod_null", 2),
    ]
    # Other aggregates carried on, in every projection.
    assert _ids(url, "products", "id") == {"prod_tpl", "prod_ok"}
    assert _ids(url, "inventory", "product_id") == {"prod_tpl", "prod_ok", "prod_bad"}
    assert _ids(url, "orders", "id") == {"ord_ok"}
    with psycopg.connect(url) as conn:
        statuses = {s.name: s for s in read_status(conn)}
    assert statuses["products"].dead_letters == 4
    assert statuses["inventory"].dead_letters == 2
    assert {s.position for s in statuses.values()} == {head(url)}

    # Later events of a parked aggregate queue behind it; the others keep flowing.
    bad_3 = copy_event(url, ("prod_tpl", 3), ("prod_bad", 3))
    create_product(ledger, "prod_ok2")
    projections.catch_up(url)
    assert _parked(url, "products")[-1][:3] == (bad_3, "prod_bad", 3)
    assert "prod_ok2" in _ids(url, "products", "id")

    # Retrying before the cause is fixed parks them all again, in the same order.
    again = dead_letters.retry(url, PROJECTIONS["products"]())
    assert (again.applied, again.still_parked) == (0, 5)
    assert [p[0] for p in _parked(url, "products")] == [bad_1, null_1, bad_2, null_2, bad_3]

    fix_event(url, bad_1, {"description": "restored"})
    fix_event(url, null_1, {"price": 250})
    fixed = dead_letters.retry(url, PROJECTIONS["products"]())
    assert (fixed.applied, fixed.still_parked) == (5, 0)
    cli = run_cli(url, tmp_path, "projections", "dead-letters", "inventory", "--retry")
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == "inventory: 2 applied, 0 still parked"

    assert _parked(url, "products") == _parked(url, "inventory") == []
    with psycopg.connect(url) as conn:
        on_hand = conn.execute(
            "SELECT id, on_hand, description FROM products WHERE id = 'prod_bad'"
        ).fetchall()
    assert on_hand == [("prod_bad", 16, "restored")]  # versions 1, 2 and 3, in order
    # The history shows each event as it was applied: this test rewrote stored events to fix
    # them, which a live store never does, so only the history differs after a rebuild.
    live = snapshot(url)
    rebuilt = rebuilt_snapshot(url)
    del live["event_history"], rebuilt["event_history"]
    assert rebuilt == live


def _generation(url: str, projection: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT generation FROM projection_positions WHERE name = %s", (projection,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_retry_that_applies_rows_starts_a_new_generation(
    ledger: Ledger, database_url: str
) -> None:
    # The retry changes rows at an unchanged position: caches keyed by position alone would
    # keep answering what they read before it.
    url = database_url
    create_product(ledger, "prod_tpl", stock=10)
    bad = copy_event(url, ("prod_tpl", 1), ("prod_bad", 1), drop=("description",))
    projections.catch_up(url)
    before = _generation(url, "products")
    nothing = dead_letters.retry(url, PROJECTIONS["inventory"]())
    assert nothing.applied == 0
    assert _generation(url, "inventory") == 0  # nothing applied: the same generation
    fix_event(url, bad, {"description": "fixed"})
    fixed = dead_letters.retry(url, PROJECTIONS["products"]())
    assert fixed.applied == 1
    assert _generation(url, "products") == before + 1
