"""The sales projection's handlers, without a database: which orders count as paid and when
their payment comes back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from projections.changes import Changes
from projections.events import Event
from projections.sales import SALES_LINES, SALES_ORDERS, SalesProjection
from tests.unit.test_changes import pending

DAY = date(2026, 3, 1)
LATER = date(2026, 3, 4)
LINES = [
    {"product_id": "prod_a", "quantity": 2, "subtotal": 500},
    {"product_id": "prod_b", "quantity": 1, "subtotal": 1000},
]


def _event(name: str, day: date, version: int, **data: Any) -> Event:
    stamp = datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)
    return Event(version, "ord_1", version, name, stamp, data)


def _project(*events: Event) -> Changes:
    projection, changes = SalesProjection(), Changes()
    for e in events:
        handler = projection.handler_for(e.name)
        assert handler is not None
        handler(e, changes)
    return changes


CONFIRMED = _event("OrderConfirmed", DAY, 2, actor="a", total=1500, lines=LINES)


def test_a_confirmed_order_is_paid_on_its_day_with_its_lines() -> None:
    changes = _project(CONFIRMED)
    assert pending(changes, SALES_ORDERS)["upserts"] == {
        ("ord_1",): {
            "order_id": "ord_1",
            "paid_on": DAY,
            "items": 3,
            "total": 1500,
            "returned_on": None,
        }
    }
    lines = pending(changes, SALES_LINES)["upserts"]
    assert [(r["product_id"], r["quantity"], r["subtotal"]) for r in lines.values()] == [
        ("prod_a", 2, 500),
        ("prod_b", 1, 1000),
    ]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("OrderCancelled", {"previous_status": "confirmed"}),
        ("OrderCancelled", {"previous_status": "processing"}),
        ("OrderRefunded", {"previous_status": "delivered", "amount": 1500, "lines": LINES}),
    ],
)
def test_a_paid_order_cancelled_or_refunded_returns_its_payment_that_day(
    name: str, data: dict[str, Any]
) -> None:
    returned = _event(name, LATER, 3, actor="a", reason="r", **data)
    [row] = pending(_project(CONFIRMED, returned), SALES_ORDERS)["upserts"].values()
    assert (row["paid_on"], row["returned_on"]) == (DAY, LATER)
    # In a later batch than the confirmation, the return patches the stored order.
    assert pending(_project(returned), SALES_ORDERS)["patches"] == {
        ("ord_1",): ({"returned_on": LATER}, {})
    }


def test_cancelling_a_pending_order_returns_nothing() -> None:
    cancelled = _event("OrderCancelled", LATER, 2, actor="a", reason="r", previous_status="pending")
    assert not _project(cancelled)
