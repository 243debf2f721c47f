"""The write side under faults: connections cut around COMMIT (tests.faultproxy), and
decisions made on a cache another process has made stale.

A command whose COMMIT reply was lost must take effect once and answer its first result; a
command that cut before COMMIT must take effect once after its retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Recording

from ledger.application import Ledger
from ledger.commands import (
    AdjustStock,
    CommandResult,
    CreateProduct,
    OrderItemRequest,
    PlaceOrder,
    UpdateProduct,
)
from ledger.domain import Product
from ledger.group_commit import GroupCommit
from ledger.settings import Settings
from tests.data import SHIPPING_ADDRESS
from tests.faultproxy import FaultProxy


@pytest.fixture
def proxy(database_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(database_url) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def proxied(proxy: FaultProxy, settings: Settings) -> Iterator[Ledger]:
    app = Ledger(settings, proxy.url, pool_size=2)
    yield app
    app.close()


def _events(database_url: str, originator_id: str) -> list[tuple[int, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT notification_id, topic FROM ledger_events WHERE originator_id = %s"
            " ORDER BY originator_version",
            (originator_id,),
        ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def _product(app: Ledger, stock: int = 0, price: int = 1000) -> str:
    cmd = CreateProduct(name="Mug", description="A mug", price=price, category="mugs", stock=stock)
    return app.create_product(cmd).aggregate_id


@pytest.mark.parametrize("fault", ["cut_after_commit", "cut_before_commit", "reset_mid_query"])
def test_adjust_stock_through_a_cut_commit_takes_effect_once(
    proxied: Ledger, proxy: FaultProxy, database_url: str, fault: str
) -> None:
    product_id = _product(proxied)
    setattr(proxy, fault, True)

    result = proxied.adjust_stock(AdjustStock(product_id, 10, "delivery"))

    assert proxy.cuts == 1
    events = _events(database_url, product_id)
    assert len(events) == 2, events  # created, then one delivery of 10
    assert result.position == events[-1][0]
    assert result.touched == (product_id,)


def test_place_order_through_a_lost_commit_reply_succeeds_once(
    proxied: Ledger, proxy: FaultProxy, database_url: str
) -> None:
    product_id = _product(proxied, stock=5)
    proxy.cut_after_commit = True

    result = proxied.place_order(
        PlaceOrder(
            customer_id="usr_1",
            items=(OrderItemRequest(product_id, 2),),
            shipping_address=SHIPPING_ADDRESS,
            payment_method="card",
        )
    )

    assert proxy.cuts == 1
    assert len(_events(database_url, result.aggregate_id)) == 1  # one order placed
    assert len(_events(database_url, product_id)) == 2  # created, one reservation
    assert result.position == max(
        p for p, _ in _events(database_url, product_id) + _events(database_url, result.aggregate_id)
    )


def test_a_command_that_changes_nothing_decides_on_current_state(
    database_url: str, settings: Settings
) -> None:
    a, b = Ledger(settings, database_url, pool_size=2), Ledger(settings, database_url, pool_size=2)
    try:
        product_id = _product(a, price=1000)  # cached in A at 10.00
        b.update_product(UpdateProduct(product_id, price=2000))

        result = a.update_product(UpdateProduct(product_id, price=1000))

        product: object = b.repository.get(product_id)
        assert isinstance(product, Product)
        assert product.price == 1000
        assert result.position == _events(database_url, product_id)[-1][0]
    finally:
        a.close()
        b.close()


def test_a_group_commit_whose_reply_is_lost_takes_each_command_once(
    proxied: Ledger, proxy: FaultProxy, database_url: str
) -> None:
    """The leader's first save is held while two commands queue; their shared transaction
    loses its COMMIT reply, and each command still answers once, with its own events."""
    products = [_product(proxied) for _ in range(3)]
    release, calls = threading.Event(), []

    def held_save(*objs: Any, **kwargs: Any) -> list[Recording[str]]:
        calls.append(len(kwargs.get("commands", ())))
        if len(calls) == 1:
            release.wait(10)
        elif len(calls) == 2:
            proxy.cut_after_commit = True  # the group's transaction
        return proxied.save(*objs, **kwargs)

    proxied._commits = GroupCommit(held_save)
    results: dict[str, CommandResult] = {}

    def adjust(product_id: str) -> None:
        results[product_id] = proxied.adjust_stock(AdjustStock(product_id, 10, "delivery"))

    threads = [threading.Thread(target=adjust, args=(p,)) for p in products]
    threads[0].start()
    _wait(lambda: len(calls) == 1)
    for thread in threads[1:]:
        thread.start()
    _wait(lambda: len(proxied._commits._queue) == 2)
    release.set()
    for thread in threads:
        thread.join(30)

    assert calls[:2] == [1, 2]  # the two queued commands shared one transaction
    assert proxy.cuts == 1
    for product_id in products:
        events = _events(database_url, product_id)
        assert len(events) == 2, events
        assert results[product_id].position == events[-1][0]


def _wait(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
