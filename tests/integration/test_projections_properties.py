"""Property: however the live projectors are stepped (batches of 1..7 events, interleaved with
commands), their tables end up equal, row for row, to what a rebuild from the store produces."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.commands import AdjustStock, DiscontinueProduct, UpdateProduct
from ledger.domain.errors import DomainError
from ledger.settings import Settings
from projections.applier import Applier
from projections.registry import resolve
from projections.tracking import step
from reads import reports
from tests.conftest import truncate_all
from tests.data import make_settings
from tests.projector_process import (
    TRANSITION_ARGS,
    create_product,
    place_order,
    rebuilt_snapshot,
    report,
    snapshot,
    transition,
)

PRODUCTS = 3
ORDERS = 5
ALL_TIME = (date(2000, 1, 1), date(2100, 1, 1))
# The statuses of an order that was paid and keeps its payment.
PAID = ("confirmed", "processing", "shipped", "delivered")

product = st.integers(0, PRODUCTS - 1)
actions = st.one_of(
    st.tuples(st.just("create"), product, st.integers(0, 6)),
    st.tuples(st.just("adjust"), product, st.integers(-4, 6).filter(bool)),
    st.tuples(st.just("reprice"), product, st.integers(1, 900)),
    st.tuples(st.just("discontinue"), product),
    st.tuples(
        st.just("order"),
        st.integers(0, ORDERS - 1),
        st.dictionaries(product, st.integers(1, 3), min_size=1, max_size=PRODUCTS),
    ),
    st.tuples(
        st.just("transition"), st.integers(0, ORDERS - 1), st.sampled_from(list(TRANSITION_ARGS))
    ),
    st.tuples(st.just("project"), st.integers(1, 7)),
)


@pytest.fixture(scope="module")
def scratch_url(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture(scope="module")
def app_settings() -> Settings:
    return make_settings()


def _run(ledger: Ledger, action: tuple[Any, ...]) -> None:
    kind, *args = action
    if kind == "create":
        create_product(ledger, f"prod_{args[0]}", stock=args[1], price=100 + args[0])
    elif kind == "adjust":
        ledger.adjust_stock(AdjustStock(f"prod_{args[0]}", args[1], "count"))
    elif kind == "reprice":
        ledger.update_product(UpdateProduct(f"prod_{args[0]}", name=f"P{args[1]}", price=args[1]))
    elif kind == "discontinue":
        ledger.discontinue_product(DiscontinueProduct(f"prod_{args[0]}"))
    elif kind == "order":
        place_order(ledger, f"ord_{args[0]}", {f"prod_{p}": q for p, q in args[1].items()})
    else:
        transition(ledger, f"ord_{args[0]}", args[1])


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(actions, min_size=1, max_size=24), final_batch=st.integers(1, 7))
def test_live_tables_equal_a_rebuild(
    scratch_url: str,
    app_settings: Settings,
    history: list[tuple[Any, ...]],
    final_batch: int,
) -> None:
    truncate_all(scratch_url)
    appliers = [Applier(p) for p in resolve(None)]
    with _ledger(app_settings, scratch_url) as ledger, psycopg.connect(scratch_url) as conn:
        # Two products exist from the start, so most histories have orders to move along.
        for seed in range(2):
            create_product(ledger, f"prod_{seed}", stock=5, price=100 + seed)
        for action in history:
            if action[0] == "project":
                for applier in appliers:
                    step(conn, applier, action[1])
                continue
            # A command the rules refuse appends nothing: fine for the property.
            with suppress(DomainError):
                _run(ledger, action)
        for applier in appliers:
            while step(conn, applier, final_batch).read:
                pass
    live = snapshot(scratch_url)
    assert rebuilt_snapshot(scratch_url) == live
    _assert_sales_add_up(scratch_url)


def _assert_sales_add_up(url: str) -> None:
    """Totals add up: each period's net is its gross less its refunds, and over all periods
    the net is the money of the orders that stay paid (neither cancelled after payment nor
    refunded); best sellers' net revenue sums to the same."""
    rows = report(url, reports.sales, ALL_TIME[0], ALL_TIME[1], "day")
    assert all(r["net"] == r["gross"] - r["refunds"] for r in rows)
    top = report(url, reports.top_products, *ALL_TIME, "revenue", 100)
    with psycopg.connect(url) as conn:
        [(kept,)] = conn.execute(
            "SELECT coalesce(sum(total), 0) FROM orders WHERE status = ANY(%s)", (list(PAID),)
        ).fetchall()
    assert sum(r["net"] for r in rows) == kept
    assert sum(r["revenue"] for r in top) == kept


@contextmanager
def _ledger(settings: Settings, url: str) -> Iterator[Ledger]:
    """A fresh write side per example: its aggregate cache must not outlive a truncate."""
    app = Ledger(settings, url, pool_size=1)
    try:
        yield app
    finally:
        app.close()
