"""An event split into several and an event dropped (issue #13, ledger.upcasting): old-shape
rows written by plain SQL load as aggregates whose version stays the stored one and that accept
new commands, are projected live and by a rebuild into the same tables, are shown by `ledger
events show` at their row's position, and are kept by `ledger events migrate`, which says their
upcasters must stay. The registry is empty in production; these tests fill it for their
duration."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import psycopg
import pytest

import projections
from ledger import upcasting
from ledger.application import Ledger
from ledger.commands import AdjustStock
from ledger.domain import Product
from ledger.settings import Settings
from ledger.upcasting import Drop, Payload, Split, Upcaster
from projections.events import DROPPED
from tests.integration.test_cli import (
    Run,
    run,  # noqa: F401 - the fixture `cli` wraps
)
from tests.integration.test_upcasting import insert_event
from tests.projector_process import create_product, rebuilt_snapshot, snapshot

RESTOCKED = "ledger.domain.products:Product.ProductRestocked"
VIEWED = "ledger.domain.products:Product.ProductViewed"
PRICE_SET = "ledger.domain.products:Product.PriceSet"
PRICE_CHANGED = "ledger.domain.products:Product.PriceChanged"


def _restocked_into_price_and_stock(payload: Payload) -> Sequence[Payload]:
    """ProductRestocked v1 repriced and counted stock at once: today PriceChanged then
    StockAdjusted."""
    return (
        {"price": payload["price"], "old_price": payload["old_price"]},
        {
            "quantity": payload["delta"],
            "reason": payload["reason"],
            "on_hand": payload["on_hand"],
            "reserved": 0,
        },
    )


@pytest.fixture
def restocked_split_viewed_dropped() -> Iterator[None]:
    with upcasting.registered(
        Split(
            "ProductRestocked",
            1,
            (("PriceChanged", 1), ("StockAdjusted", 1)),
            _restocked_into_price_and_stock,
        ),
        Drop("ProductViewed", 1),
    ):
        yield


def _old_rows(ledger: Ledger, url: str) -> list[int]:
    """prod_split: created today (v1), then a ProductRestocked (v2) and a ProductViewed (v3)
    stored by an old release. Their positions."""
    create_product(ledger, "prod_split", stock=5, price=250)
    restocked = {"price": 300, "old_price": 250, "delta": 4, "reason": "recount", "on_hand": 9}
    return [
        insert_event(url, ("prod_split", 2), RESTOCKED, restocked),
        insert_event(url, ("prod_split", 3), VIEWED, {"viewer": "someone"}),
    ]


def _product_row(url: str) -> tuple[object, ...] | None:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT price, on_hand FROM products WHERE id = 'prod_split'"
        ).fetchone()


def test_a_split_and_a_dropped_event_load_project_and_rebuild(
    ledger: Ledger, database_url: str, settings: Settings, restocked_split_viewed_dropped: None
) -> None:
    url = database_url
    _old_rows(ledger, url)

    # The aggregate: both halves of the split applied, the version the stored one (3), and a
    # new command appends at version 4.
    fresh = Ledger(settings, url, pool_size=2)
    try:
        product = fresh.load("prod_split", cached=False)
        assert isinstance(product, Product)
        assert (product.price, product.on_hand, product.version) == (300, 9, 3)
        fresh.adjust_stock(AdjustStock("prod_split", 2, "delivery"))
        again = fresh.repository.get("prod_split")
        assert (again.on_hand, again.version) == (11, 4)
    finally:
        fresh.close()

    # Live projection and a rebuild (COPY into shadow tables) give the same tables.
    projections.catch_up(url)
    assert _product_row(url) == (300, 11)
    live = snapshot(url)
    assert rebuilt_snapshot(url) == live


def test_events_show_and_migrate_keep_the_split_and_the_dropped_rows(
    ledger: Ledger,
    database_url: str,
    run: Run,  # noqa: F811 - test_cli's fixture, imported above: ledger ARGS in this process
    capsys: pytest.CaptureFixture[str],
    restocked_split_viewed_dropped: None,
) -> None:
    url = database_url
    restocked_at, viewed_at = _old_rows(ledger, url)
    capsys.readouterr()  # the commands' log lines

    shown = run("events", "show", "prod_split", "--format", "json", database_url=url)
    assert shown.returncode == 0, shown
    events = json.loads(shown.stdout)
    assert [(e["position"], e["version"], e["event"]) for e in events[1:]] == [
        (restocked_at, 2, "PriceChanged"),
        (restocked_at, 2, "StockAdjusted"),
        (viewed_at, 3, DROPPED),
    ]
    assert events[2]["fields"] == {"quantity": 4, "reason": "recount", "on_hand": 9, "reserved": 0}

    projections.catch_up(url)
    live = snapshot(url)
    kept = run("events", "migrate", database_url=url)
    assert (kept.returncode, kept.stdout.strip()) == (
        0,
        "nothing to rewrite: the stored events of old versions (ProductRestocked v1, "
        "ProductViewed v1) are split, dropped or unsealed by their upcasters, which must stay",
    )

    # Beside an event renamed one to one, which is rewritten: the split and dropped rows stay.
    insert_event(url, ("prod_split", 4), PRICE_SET, {"price": 350, "old_price": 300})
    with upcasting.registered(Upcaster("PriceSet", 1, "PriceChanged", 1, dict)):
        projections.catch_up(url)
        live = snapshot(url)
        done = run("events", "migrate", database_url=url)
    assert done.returncode == 0, done
    assert (
        "1 events of old versions rewritten (PriceSet v1 -> PriceChanged v1); 2 kept as they "
        "are, their upcasters split, drop or unseal them (ProductRestocked v1, ProductViewed "
        "v1): "
        "those upcasters must stay"
    ) in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "the upcasters of PriceSet v1 can be deleted"
    with psycopg.connect(url) as conn:
        topics = conn.execute(
            "SELECT topic FROM ledger_events WHERE originator_id = 'prod_split' "
            "ORDER BY originator_version"
        ).fetchall()
    assert [t for (t,) in topics][1:] == [RESTOCKED, VIEWED, PRICE_CHANGED]
    assert snapshot(url) == live
