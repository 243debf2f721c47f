"""The event contract (ledger/contract.py, issue #13) is what the aggregates store, what the
schema lock records and what every projection handler takes: an event changed in one of them
and not the others (its fields, nested fields or version) fails here."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, get_type_hints

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from ledger import contract
from ledger.contract import EVENT_TYPES, EVENTS, EventType
from ledger.domain.base import LedgerSnapshot
from ledger.eventstore import APP_NAME
from ledger.use_cases import PRODUCT_ID_PATTERN, new_id
from projections.events import Event
from projections.registry import PROJECTIONS
from tests.fixtures.make_schema_lock import LOCK, event_classes, type_text

# The fields every stored event has, which the library adds: not part of a payload.
LIBRARY_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
# The base event classes of each aggregate, which nothing triggers and no store holds.
BASE_CLASSES = frozenset({"Event", "Created"})


def payload_fields(cls: type[Any]) -> dict[str, Any]:
    """An event class's fields besides the library's, with their resolved annotations."""
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in LIBRARY_FIELDS]
    return {name: hints[name] for name in names}


def stored_event_classes() -> dict[str, type[Any]]:
    """Every event class an aggregate triggers, by topic."""
    return {
        get_topic(cls): cls
        for cls in event_classes()
        if cls.__name__ not in BASE_CLASSES and not issubclass(cls, LedgerSnapshot)
    }


def test_every_event_an_aggregate_triggers_is_in_the_contract_and_back() -> None:
    assert sorted(stored_event_classes()) == sorted(t.topic for t in EVENT_TYPES)
    assert len(EVENTS) == len(EVENT_TYPES), (
        "event names must be unique: projectors dispatch on them"
    )


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.name)
def test_an_event_class_has_its_contract_payload_and_version(event_type: EventType) -> None:
    cls = resolve_topic(event_type.topic)
    assert payload_fields(cls) == get_type_hints(event_type.payload), (
        f"{event_type.name}: the aggregate's event and ledger.contract.{event_type.name} differ"
    )
    assert getattr(cls, "class_version", 1) == event_type.version


def test_the_schema_lock_records_the_contract() -> None:
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    for event_type in EVENT_TYPES:
        locked = lock[event_type.topic]
        fields = {k: v for k, v in locked["fields"].items() if k not in LIBRARY_FIELDS}
        hints = get_type_hints(event_type.payload)
        assert fields == {name: type_text(t) for name, t in hints.items()}, event_type.name
        assert locked["class_version"] == event_type.version, event_type.name


def test_the_lock_spells_out_nested_payloads() -> None:
    # A field added to an order line changes OrderPlaced's entry, so it needs a version too.
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    items = lock[contract.ORDER_PLACED.topic]["fields"]["items"]
    assert items == (
        "list[{product_id: str, name: str, quantity: int, unit_price: int, subtotal: int}]"
    )
    # A sealed field is locked as such; what it seals is held to the contract's erased value.
    address = lock[contract.ORDER_PLACED.topic]["fields"]["shipping_address"]
    assert address == "Sealed"
    erased = contract.ORDER_PLACED.personal["shipping_address"]
    assert set(erased) == set(get_type_hints(contract.ShippingAddress))


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_every_handler_takes_the_contract_payload_of_its_event(name: str) -> None:
    projection = PROJECTIONS[name]
    handlers = [attr for attr in dir(projection) if attr.startswith("on_")]
    assert handlers
    for attr in handlers:
        event_name = attr.removeprefix("on_")
        assert event_name in EVENTS, f"{name}.{attr} handles no event of the contract"
        taken = get_type_hints(getattr(projection, attr))["e"]
        assert taken == Event[EVENTS[event_name].payload], f"{name}.{attr} takes {taken}"


def test_the_store_names_are_the_ones_the_library_derives() -> None:
    # eventsourcing.postgres: tables '<application name, lower case>_<purpose>', and the
    # recorder notifies on a channel named after the events table.
    assert f"{APP_NAME.lower()}_events" == contract.EVENTS_TABLE
    assert f"{APP_NAME.lower()}_snapshots" == contract.SNAPSHOTS_TABLE
    assert contract.EVENTS_CHANNEL == contract.EVENTS_TABLE


def test_every_id_prefix_names_a_projection_that_serves_it() -> None:
    assert set(contract.SERVING_PROJECTION.values()) <= set(PROJECTIONS)
    for prefix in contract.SERVING_PROJECTION:
        assert new_id(prefix).partition(contract.ID_SEPARATOR)[0] == prefix
    assert PRODUCT_ID_PATTERN == "prod_"
