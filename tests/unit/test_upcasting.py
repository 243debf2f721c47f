"""The upcaster registry (ledger.upcasting): chains, renames, the names a reader asks the store
for, and the check of stored (topic, version) pairs against today's classes."""

from __future__ import annotations

import pytest

import ledger.domain  # noqa: F401 - topics resolve
from ledger import upcasting
from ledger.upcasting import Drop, Payload, Split, Upcaster
from projections.events import DROPPED, decode_rows

PRICE_CHANGED = "ledger.domain.products:Product.PriceChanged"


def _add_currency(payload: Payload) -> Payload:
    return {**payload, "currency": "EUR"}


def _row(name: str, fields: bytes) -> tuple[int, str, int, str, bytes]:
    state = b'{"timestamp": "2026-11-26T16:33:28+00:00", ' + fields + b"}"
    return (5, "prod_1", 2, f"ledger.domain.products:Product.{name}", state)


# The production registry: the versions before personal fields were sealed (issue #14).
PRODUCTION = {("UserRegistered", 1), ("OrderPlaced", 1)}


def test_the_production_registry_reads_the_events_from_before_sealing() -> None:
    assert set(upcasting.UPCASTERS) == PRODUCTION
    assert upcasting.expand("UserRegistered", 1, {"name": "A"}) == [
        ("UserRegistered", 2, {"name": "A", "email_claim": None})
    ]


def test_upcasters_chain_and_rename() -> None:
    with upcasting.registered(
        Upcaster("PriceSet", 1, "PriceSet", 2, _add_currency),
        Upcaster("PriceSet", 2, "PriceChanged", 1, lambda p: {**p, "old_price": p["was"]}),
    ):
        assert upcasting.expand("PriceSet", 1, {"price": 3, "was": 2}) == [
            ("PriceChanged", 1, {"price": 3, "was": 2, "currency": "EUR", "old_price": 2})
        ]
        assert upcasting.ends("PriceSet", 1) == [("PriceChanged", 1)]
        assert upcasting.one_to_one("PriceSet", 1)
        assert upcasting.stored_names({"PriceChanged"}) == {"PriceChanged", "PriceSet"}
        assert upcasting.stored_names({"StockReceived"}) == {"StockReceived"}
        [event] = decode_rows([_row("PriceSet", b'"price": 3, "was": 2')])
        assert (event.name, event.data["old_price"], event.data["currency"]) == (
            "PriceChanged",
            2,
            "EUR",
        )
    assert set(upcasting.UPCASTERS) == PRODUCTION


def test_register_refuses_a_second_upcaster_or_a_no_op() -> None:
    with pytest.raises(ValueError, match="must change"):
        upcasting.register("PriceChanged", 1, to=("PriceChanged", 1))(dict)
    with (
        upcasting.registered(Upcaster("PriceSet", 1, "PriceChanged", 1, dict)),
        pytest.raises(ValueError, match="already"),
    ):
        upcasting.register("PriceSet", 1)(dict)


def test_renamed_topic_keeps_the_aggregate() -> None:
    assert upcasting.renamed_topic("m.n:Product.PriceSet", "PriceChanged") == (
        "m.n:Product.PriceChanged"
    )
    assert upcasting.renamed_topic("m:Snap", "Other") == "m:Other"


def test_check_names_every_stored_pair_without_a_path() -> None:
    assert upcasting.check({(PRICE_CHANGED, 1)}) == []
    stored = {("ledger.domain.products:Product.PriceSet", 1), (PRICE_CHANGED, 2)}
    assert upcasting.check(stored) == [
        "ledger.domain.products:Product.PriceChanged v2: newer than today's class_version 1 "
        "(written by a later release?)",
        "ledger.domain.products:Product.PriceSet v1: no event class "
        "ledger.domain.products:Product.PriceSet today",
    ]
    with upcasting.registered(Upcaster("PriceSet", 1, "PriceChanged", 1, dict)):
        assert upcasting.check({("ledger.domain.products:Product.PriceSet", 1)}) == []
    with upcasting.registered(Upcaster("PriceSet", 1, "PriceChanged", 0, dict)):
        assert upcasting.check({("ledger.domain.products:Product.PriceSet", 1)}) == [
            "ledger.domain.products:Product.PriceSet v1 (upcast to PriceChanged v0): today's "
            "class_version is 1 and there is no upcaster from v0 (registry or upcast_v0_v1)"
        ]


def _split_repriced(payload: Payload) -> list[Payload]:
    return [{"price": payload["price"], "old_price": 0}, {"delta": payload["delta"]}]


def test_a_split_gives_several_events_at_the_rows_position_in_order() -> None:
    into = (("PriceChanged", 1), ("StockAdjusted", 1))
    with upcasting.registered(Split("Repriced", 1, into, _split_repriced)):
        assert upcasting.ends("Repriced", 1) == list(into)
        assert not upcasting.one_to_one("Repriced", 1)
        assert upcasting.stored_names({"StockAdjusted"}) == {"StockAdjusted", "Repriced"}
        events = decode_rows([_row("Repriced", b'"price": 3, "delta": -1')])
        assert [(e.position, e.version, e.name, e.data) for e in events] == [
            (5, 2, "PriceChanged", {"price": 3, "old_price": 0}),
            (5, 2, "StockAdjusted", {"delta": -1}),
        ]
    with pytest.raises(ValueError, match="at least two"):
        Split("Repriced", 1, (("PriceChanged", 1),), _split_repriced)


def test_a_split_must_give_one_payload_per_event() -> None:
    into = (("PriceChanged", 1), ("StockAdjusted", 1))
    with (
        upcasting.registered(Split("Repriced", 1, into, lambda p: [p])),
        pytest.raises(ValueError, match="gave 1 payloads for 2 events"),
    ):
        upcasting.expand("Repriced", 1, {})


def test_a_dropped_event_reads_as_one_placeholder_no_projection_handles() -> None:
    with upcasting.registered(Drop("Viewed", 1)):
        assert upcasting.expand("Viewed", 1, {"by": "x"}) == []
        assert upcasting.ends("Viewed", 1) == []
        assert upcasting.check({("ledger.domain.products:Product.Viewed", 1)}) == []
        [event] = decode_rows([_row("Viewed", b'"by": "x"')])
        assert (event.position, event.name, event.data) == (5, DROPPED, {})
    with upcasting.registered(Drop("Viewed", 1)), pytest.raises(ValueError, match="already"):
        upcasting.register_drop("Viewed", 1)


def test_the_decorators_register_splits_and_drops() -> None:
    try:
        upcasting.register_split("Repriced", 1, [("PriceChanged", 1), ("StockAdjusted", 1)])(
            _split_repriced
        )
        upcasting.register_drop("Viewed", 1)
        assert set(upcasting.UPCASTERS) == PRODUCTION | {("Repriced", 1), ("Viewed", 1)}
        assert upcasting.chain("Repriced", 1) == [("Repriced", 1)]
    finally:
        upcasting.UPCASTERS.pop(("Repriced", 1))
        upcasting.UPCASTERS.pop(("Viewed", 1))
