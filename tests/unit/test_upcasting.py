"""The upcaster registry (ledger.upcasting): chains, renames, the names a reader asks the store
for, and the check of stored (topic, version) pairs against today's classes."""

from __future__ import annotations

import pytest

import ledger.domain  # noqa: F401 - topics resolve
from ledger import upcasting
from ledger.upcasting import Payload, Upcaster
from projections.events import decode

PRICE_CHANGED = "ledger.domain.products:Product.PriceChanged"


def _add_currency(payload: Payload) -> Payload:
    return {**payload, "currency": "EUR"}


def test_the_registry_is_empty_in_production() -> None:
    assert upcasting.UPCASTERS == {}


def test_upcasters_chain_and_rename() -> None:
    with upcasting.registered(
        Upcaster("PriceSet", 1, "PriceSet", 2, _add_currency),
        Upcaster("PriceSet", 2, "PriceChanged", 1, lambda p: {**p, "old_price": p["was"]}),
    ):
        assert upcasting.upcast("PriceSet", 1, {"price": 3, "was": 2}) == (
            "PriceChanged",
            1,
            {"price": 3, "was": 2, "currency": "EUR", "old_price": 2},
        )
        assert upcasting.chain_end("PriceSet", 1) == ("PriceChanged", 1)
        assert upcasting.stored_names({"PriceChanged"}) == {"PriceChanged", "PriceSet"}
        assert upcasting.stored_names({"StockReceived"}) == {"StockReceived"}
        row = (5, "prod_1", 2, "ledger.domain.products:Product.PriceSet", b'{"timestamp": '
               b'"2026-11-26T16:33:28+00:00", "price": 3, "was": 2}')  # fmt: skip
        event = decode(row)
        assert (event.name, event.data["old_price"], event.data["currency"]) == ("PriceChanged", 2, "EUR")
    assert upcasting.UPCASTERS == {}


def test_register_refuses_a_second_upcaster_or_a_no_op() -> None:
    with pytest.raises(ValueError, match="must change"):
        upcasting.register("PriceChanged", 1, to=("PriceChanged", 1))
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
