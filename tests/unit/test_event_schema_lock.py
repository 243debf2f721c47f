"""The event schema lock (issue #13): every stored event class of the domain has the topic,
`class_version` and fields tests/fixtures/event_schema.json records. Changing an event's fields
means bumping its class_version, adding an upcaster for the stored events and regenerating the
lock (tests/fixtures/make_schema_lock.py); this test fails until all three are done."""

from __future__ import annotations

import copy
import json

import pytest

from tests.fixtures.make_schema_lock import LOCK, Description, compare, describe_events, render

PRODUCT_CREATED = "ledger.domain.products:Product.ProductCreated"
STORED_EVENTS = {
    "ledger.domain.products:Product": [
        "ProductCreated", "ProductUpdated", "PriceChanged", "StockReceived", "StockAdjusted",
        "StockReserved", "StockReleased", "StockShipped", "ProductDiscontinued",
    ],
    "ledger.domain.orders:Order": [
        "OrderPlaced", "OrderConfirmed", "OrderProcessingStarted", "OrderShipped",
        "OrderDelivered", "OrderCancelled", "OrderRefunded",
    ],
    "ledger.domain.users:User": ["UserRegistered"],
    "ledger.domain.users:EmailClaim": ["EmailClaimed"],
}  # fmt: skip


def locked() -> Description:
    lock: Description = json.loads(LOCK.read_text(encoding="utf-8"))
    return lock


@pytest.fixture
def current() -> Description:
    """A copy of today's description: the tests below change it, never the classes."""
    return copy.deepcopy(describe_events())


def test_the_lock_matches_the_event_classes() -> None:
    problems = compare(locked(), describe_events())
    assert not problems, "the event classes differ from their lock:\n" + "\n".join(problems)


def test_the_description_finds_every_event_the_domain_stores(current: Description) -> None:
    for aggregate, names in STORED_EVENTS.items():
        for name in names:
            assert f"{aggregate}.{name}" in current
    assert current[PRODUCT_CREATED]["class_version"] == 1
    assert current[PRODUCT_CREATED]["fields"]["tags"] == "list[str]"
    assert "ledger.domain.base:LedgerSnapshot" in current


def test_every_topic_of_the_old_stores_is_locked() -> None:
    lock = locked()
    for path in sorted(LOCK.parent.glob("store_*.json")):
        store = json.loads(path.read_text(encoding="utf-8"))
        topics = {r["topic"] for r in store["ledger_events"] + store["ledger_snapshots"]}
        assert topics <= set(lock), (path.name, sorted(topics - set(lock)))


def test_a_field_added_without_a_bump_is_reported(current: Description) -> None:
    current[PRODUCT_CREATED]["fields"]["weight_grams"] = "int"
    [problem] = compare(locked(), current)
    assert problem.startswith(PRODUCT_CREATED)
    assert "added weight_grams: int" in problem
    assert "without a class_version bump" in problem
    assert "class_version = 2" in problem
    assert "upcast_v1_v2" in problem
    assert "make_schema_lock" in problem


def test_a_removed_or_retyped_field_is_reported_too(current: Description) -> None:
    del current[PRODUCT_CREATED]["fields"]["images"]
    current[PRODUCT_CREATED]["fields"]["price"] = "Decimal"
    [problem] = compare(locked(), current)
    assert "removed images" in problem
    assert "retyped price: int -> Decimal" in problem
    assert "without a class_version bump" in problem


def test_a_bump_without_an_upcaster_is_reported(current: Description) -> None:
    current[PRODUCT_CREATED]["fields"]["weight_grams"] = "int"
    current[PRODUCT_CREATED]["class_version"] = 2
    [problem] = compare(locked(), current)
    assert "has no upcast_v1_v2" in problem


def test_a_bump_with_its_upcaster_still_needs_the_lock_regenerated(
    current: Description,
) -> None:
    current[PRODUCT_CREATED]["fields"]["weight_grams"] = "int"
    current[PRODUCT_CREATED]["class_version"] = 2
    current[PRODUCT_CREATED]["upcasters"] = ["upcast_v1_v2"]
    [problem] = compare(locked(), current)
    assert "the lock is out of date" in problem
    assert compare(current, current) == []


def test_removed_and_new_event_classes_are_reported(current: Description) -> None:
    renamed = current.pop("ledger.domain.orders:Order.OrderShipped")
    current["ledger.domain.orders:Order.OrderDispatched"] = renamed
    gone, new = compare(locked(), current)
    assert gone.startswith("ledger.domain.orders:Order.OrderShipped is gone")
    assert new.startswith("ledger.domain.orders:Order.OrderDispatched is a new event class")


def test_the_lock_file_is_what_the_generator_writes() -> None:
    assert LOCK.read_text(encoding="utf-8") == render(describe_events())
