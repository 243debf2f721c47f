"""Commands use cached aggregates without asking the store for newer events; another process's
change must still never be lost (a stale acceptance conflicts and retries) nor cause a wrong
rejection (a stale rejection is decided again on fresh state)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ledger import appends
from ledger.application import Ledger
from ledger.commands import AdjustStock, CreateProduct, OrderItemRequest, PlaceOrder
from ledger.domain import Product
from ledger.settings import Settings
from tests.data import SHIPPING_ADDRESS


@pytest.fixture
def other(database_url: str, settings: Settings) -> Iterator[Ledger]:
    """A second Ledger with its own cache, like another API process."""
    app = Ledger(settings, database_url, pool_size=2)
    yield app
    app.close()


def _order(product_id: str, quantity: int) -> PlaceOrder:
    return PlaceOrder(
        customer_id="usr_1",
        items=(OrderItemRequest(product_id, quantity),),
        shipping_address=SHIPPING_ADDRESS,
        payment_method="card",
    )


def _warm(ledger: Ledger) -> None:
    ledger.create_product(
        CreateProduct(
            name="Pen", description="", price=100, category="c", stock=5, product_id="prod_pen"
        )
    )
    ledger.place_order(_order("prod_pen", 1))  # prod_pen is now in this ledger's cache


def test_a_rejection_made_on_a_stale_cache_is_decided_again(ledger: Ledger, other: Ledger) -> None:
    _warm(ledger)
    other.adjust_stock(AdjustStock("prod_pen", 10, "delivery"))
    # The cached copy has 4 available; the store has 14.
    ledger.place_order(_order("prod_pen", 10))
    product = other.repository.get("prod_pen")
    assert isinstance(product, Product)
    assert (product.on_hand, product.reserved) == (15, 11)


def test_an_acceptance_made_on_a_stale_cache_conflicts_and_retries(
    ledger: Ledger, other: Ledger
) -> None:
    _warm(ledger)
    other.place_order(_order("prod_pen", 2))
    ledger.place_order(_order("prod_pen", 2))
    product = other.repository.get("prod_pen")
    assert isinstance(product, Product)
    assert product.reserved == 5


def _appends(ledger: Ledger) -> list[int]:
    """Counts the ledger's append attempts (its recorder's), one entry each."""
    attempts: list[int] = []
    insert = ledger.recorder.insert_events

    def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        return insert(*args, **kwargs)

    ledger.recorder.insert_events = counted  # type: ignore[method-assign]
    return attempts


def test_a_ledger_watching_appends_decides_on_another_process_change_without_conflicting(
    ledger: Ledger, other: Ledger
) -> None:
    ledger.watch_appends()
    _warm(ledger)
    other.place_order(_order("prod_pen", 2))
    # The notification names prod_pen's new version: the cached copy is no longer offered.
    deadline = time.monotonic() + 5
    while ledger.cached_copy("prod_pen") is not None:
        assert time.monotonic() < deadline, "the append was never heard"
        time.sleep(0.01)
    attempts = _appends(ledger)
    ledger.place_order(_order("prod_pen", 2))
    assert len(attempts) == 1  # decided on the current version: its first append went in
    product = other.repository.get("prod_pen")
    assert isinstance(product, Product)
    assert product.reserved == 5
    # Once fast-forwarded, the cached copy serves the next command again.
    assert ledger.cached_copy("prod_pen") is not None


def test_an_append_of_more_aggregates_than_a_notification_holds_still_commits(
    ledger: Ledger,
) -> None:
    """The notification names as many as fit in PostgreSQL's 8,000 bytes, never more."""
    events = [(f"prod_{'x' * 60}{n:04d}", 1) for n in range(300)]
    payload = appends.encode(events)
    assert len(payload.encode()) <= appends.MAX_PAYLOAD_BYTES
    named = appends.decode(payload)
    assert 0 < len(named) < 300
    assert all(version == 1 for version in named.values())
    products = [
        Product.create(
            product_id,
            name="Pen",
            description="",
            price=100,
            currency="EUR",
            category="c",
            tags=[],
            images=[],
        )
        for product_id, _ in events
    ]
    ledger.save(*products)
    assert ledger.repository.get(events[-1][0]).version == 1
