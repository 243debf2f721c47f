"""The `history` projection (issue #18) and its read (`reads.history.stream_events`): each
stream's events in order, personal fields masked whatever the stored version, the same rows
from a rebuild, keyset pages that never cut a split event apart."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import projections
from ledger.application import Ledger
from ledger.commands import AdjustStock, EraseUser, RegisterUser
from projections.history import PERSONAL_MARK, HistoryProjection
from projections.rebuild import rebuild
from reads import history
from reads.history import stream_events
from tests.data import SHIPPING_ADDRESS
from tests.integration.test_upcasting import insert_event, insert_v1_user
from tests.integration.test_upcasting_split import (  # noqa: F401 - the fixture is used by name
    RESTOCKED,
    VIEWED,
    restocked_split_viewed_dropped,
)
from tests.projector_process import create_product, place_order, report, transition

NAME, EMAIL = "Philippa Quennell-Ardmore", "philippa.qa@example.org"
USER = "ledger.domain.users:User"


def _history(url: str, stream_id: str, before: int | None = None, limit: int = 100) -> Any:
    return report(url, stream_events, stream_id, before, limit)


def _names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["event"] for row in rows]


def _table(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT * FROM event_history ORDER BY position, part").fetchall()


def _table_text(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT coalesce(string_agg(stream_id || event || fields::text, ' '), '') "
            "FROM event_history"
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_each_streams_events_newest_first_personal_fields_masked_and_rebuilt_alike(
    ledger: Ledger, database_url: str
) -> None:
    url = database_url
    user_id = ledger.register_user(
        RegisterUser(name=NAME, email=EMAIL, password_hash="$argon2id$fake")
    ).aggregate_id
    create_product(ledger, "prod_h", stock=10, price=250)
    ledger.adjust_stock(AdjustStock("prod_h", -2, "breakage"))
    place_order(ledger, "ord_h", {"prod_h": 3}, customer=user_id)
    transition(ledger, "ord_h", "confirm")
    projections.catch_up(url, ["history"])

    product, more = _history(url, "prod_h")
    assert not more
    assert _names(product) == ["StockReserved", "StockAdjusted", "ProductCreated"]
    assert [row["version"] for row in product] == [3, 2, 1]
    assert product[0]["fields"]["order_id"] == "ord_h"
    assert product[-1]["fields"]["name"] == "Product prod_h"

    order, _ = _history(url, "ord_h")
    assert _names(order) == ["OrderConfirmed", "OrderPlaced"]
    placed = order[-1]
    assert placed["fields"]["shipping_address"] == PERSONAL_MARK
    assert placed["fields"]["customer_id"] == user_id
    assert placed["fields"]["items"][0]["product_id"] == "prod_h"
    assert placed["stream_id"] == "ord_h"
    assert placed["recorded_at"] <= order[0]["recorded_at"]

    user, _ = _history(url, user_id)
    assert _names(user) == ["UserRegistered"]
    registered = user[0]["fields"]
    assert {registered[f] for f in ("name", "email", "password_hash")} == {PERSONAL_MARK}
    assert registered["role"] == "customer"

    text = _table_text(url)
    for plain in (NAME, EMAIL, SHIPPING_ADDRESS.full_name, SHIPPING_ADDRESS.address_line1):
        assert plain not in text

    live = _table(url)
    rebuild(url, HistoryProjection())
    assert _table(url) == live


def test_unsealed_v1_events_are_masked_and_an_erasure_changes_no_row(
    ledger: Ledger, database_url: str
) -> None:
    url = database_url
    insert_v1_user(url, "usr_old", NAME, EMAIL)
    projections.catch_up(url, ["history"])
    (row,), _ = _history(url, "usr_old")
    assert row["version"] == 1
    assert {row["fields"][f] for f in ("name", "email", "password_hash")} == {PERSONAL_MARK}
    assert NAME not in _table_text(url)
    assert EMAIL not in _table_text(url)

    user_id = ledger.register_user(
        RegisterUser(name=NAME, email="other." + EMAIL, password_hash="h")
    ).aggregate_id
    projections.catch_up(url, ["history"])
    before = _table(url)
    ledger.erase_user(EraseUser(user_id=user_id, erased_by="usr_admin"))
    projections.catch_up(url, ["history"])
    after = _table(url)
    assert after[: len(before)] == before
    user, _ = _history(url, user_id)
    assert _names(user) == ["UserErased", "UserRegistered"]


def test_pages_follow_each_other_by_position_without_gaps(
    ledger: Ledger, database_url: str
) -> None:
    url = database_url
    create_product(ledger, "prod_p", stock=10)
    for n in range(1, 7):
        ledger.adjust_stock(AdjustStock("prod_p", n, f"delivery {n}"))
    create_product(ledger, "prod_other", stock=1)  # another stream, between none of them
    projections.catch_up(url, ["history"])
    everything, more = _history(url, "prod_p")
    assert not more
    assert len(everything) == 7

    pages, before = [], None
    while True:
        page, more = _history(url, "prod_p", before, 3)
        pages.append(page)
        if not more:
            break
        before = page[-1]["position"]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [row for page in pages for row in page] == everything
    assert _history(url, "prod_p", everything[-1]["position"], 3) == ([], False)
    assert _history(url, "prod_nobody", None, 3) == ([], False)
    with pytest.raises(ValueError, match="limit"):
        _history(url, "prod_p", None, 0)


@pytest.mark.usefixtures("restocked_split_viewed_dropped")
def test_split_events_keep_apart_share_a_page_and_dropped_ones_have_no_row(
    ledger: Ledger, database_url: str
) -> None:
    url = database_url
    create_product(ledger, "prod_split", stock=5, price=250)
    restocked = {"price": 300, "old_price": 250, "delta": 4, "reason": "recount", "on_hand": 9}
    split_at = insert_event(url, ("prod_split", 2), RESTOCKED, restocked)
    insert_event(url, ("prod_split", 3), VIEWED, {"viewer": "someone"})
    insert_event(
        url,
        ("prod_split", 4),
        "ledger.domain.products:Product.StockReceived",
        {"quantity": 1, "reason": "found", "on_hand": 10, "reserved": 0},
    )
    projections.catch_up(url, ["history"])

    rows, _ = _history(url, "prod_split")
    assert [(r["version"], r["part"], r["event"]) for r in rows] == [
        (4, 0, "StockReceived"),
        (2, 1, "StockAdjusted"),
        (2, 0, "PriceChanged"),
        (1, 0, "ProductCreated"),
    ]
    assert {rows[1]["position"], rows[2]["position"]} == {split_at}

    # limit 2: the split's two events go to the next page together; limit 1: a page holds
    # both, the one stored row they come from being more than the limit.
    for limit, sizes in ((2, [1, 2, 1]), (1, [1, 2, 1])):
        pages, before = [], None
        while True:
            page, more = _history(url, "prod_split", before, limit)
            pages.append(page)
            if not more:
                break
            before = page[-1]["position"]
        assert [len(p) for p in pages] == sizes, limit
        assert [row for page in pages for row in page] == rows

    live = _table(url)
    rebuild(url, HistoryProjection())
    assert _table(url) == live


def test_a_streams_page_is_one_backward_scan_of_its_index(database_url: str) -> None:
    with psycopg.connect(database_url, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("SET enable_seqscan TO off")
        explained = conn.execute("EXPLAIN " + history._PAGE, ("prod_x", 100, 51)).fetchall()
    plan = "\n".join(row[0] for row in explained)
    assert "Index Scan Backward using event_history_stream_idx" in plan
    assert "Sort" not in plan
