"""The write side under concurrency, on real PostgreSQL: stock is never oversold and an email
is never registered twice, however many threads race."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from ledger.application import Ledger
from ledger.commands import CreateProduct, OrderItemRequest, PlaceOrder, RegisterUser
from ledger.domain import DomainError, Product
from ledger.settings import Settings
from tests.data import SHIPPING_ADDRESS
from tests.integration.test_write_side import load

T = TypeVar("T")


def race(count: int, threads: int, attempt: Callable[[int], T]) -> list[T | DomainError]:
    """Runs `attempt(i)` for i in range(count) on `threads` threads; domain errors are results."""

    def one(i: int) -> T | DomainError:
        try:
            return attempt(i)
        except DomainError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(count)))


def outcomes(results: Sequence[object]) -> Counter[str]:
    return Counter(r.code if isinstance(r, DomainError) else "ok" for r in results)


def test_sixteen_threads_reserve_exactly_the_stock_there_is(ledger: Ledger) -> None:
    ledger.create_product(
        CreateProduct(name="Hot", description="d", price=2999, category="c", stock=50,
                      product_id="prod_hot")
    )  # fmt: skip

    def order(i: int) -> str:
        return ledger.place_order(
            PlaceOrder(
                customer_id=f"usr_{i}",
                items=(OrderItemRequest("prod_hot", 1),),
                shipping_address=SHIPPING_ADDRESS,
                payment_method="card",
            )
        ).aggregate_id

    results = race(200, 16, order)
    assert outcomes(results) == {"ok": 50, "INSUFFICIENT_STOCK": 150}
    product = load(ledger, Product, "prod_hot")
    assert (product.on_hand, product.reserved, product.available) == (50, 50, 0)
    reserved_for = {
        e.order_id  # type: ignore[attr-defined]
        for e in ledger.repository.event_store.get("prod_hot")
        if type(e).__name__ == "StockReserved"
    }
    assert reserved_for == {r for r in results if isinstance(r, str)}


def test_two_applications_share_the_stock_without_overselling(
    ledger: Ledger, database_url: str, settings: Settings
) -> None:
    """Two processes' worth of writers: the striped locks do not span them, the store does."""
    other = Ledger(settings, database_url)
    try:
        ledger.create_product(
            CreateProduct(name="Hot", description="d", price=100, category="c", stock=20,
                          product_id="prod_hot")
        )  # fmt: skip

        def order(i: int) -> str:
            app = ledger if i % 2 else other
            return app.place_order(
                PlaceOrder(
                    customer_id="usr_c",
                    items=(OrderItemRequest("prod_hot", 1),),
                    shipping_address=SHIPPING_ADDRESS,
                    payment_method="card",
                )
            ).aggregate_id

        results = race(60, 8, order)
    finally:
        other.close()
    assert outcomes(results) == {"ok": 20, "INSUFFICIENT_STOCK": 40}


@pytest.mark.parametrize("racers", [2, 5, 8])
def test_racing_registrations_of_one_email_make_one_user(ledger: Ledger, racers: int) -> None:
    def register(i: int) -> str:
        email = "Race@Example.com" if i % 2 else "race@example.COM"
        return ledger.register_user(
            RegisterUser(name=f"Racer {i}", email=email, password_hash="h")
        ).aggregate_id

    results = race(racers, racers, register)
    assert outcomes(results) == {"ok": 1, "CONFLICT": racers - 1}
    assert all(type(r).__name__ == "DuplicateEmailError" for r in results if not isinstance(r, str))
