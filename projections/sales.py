"""The `sales` read model: every paid order, its lines, and the day its payment came back.

An order counts as a sale on the day it is confirmed (paid). Its payment is returned on the day
it is refunded, or cancelled after it was paid; cancelling a pending order returns nothing. A
cancellation event carries no amount, so the model keeps each paid order (rather than daily
counters) and the reports add the days up: every handler is then a plain upsert or patch of
one order's rows, which a replay or a rebuild repeats harmlessly."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from ledger import contract
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

SALES_ORDERS = Table(
    "sales_orders",
    key=("order_id",),
    columns=("order_id", "paid_on", "items", "total", "returned_on"),
)
SALES_LINES = Table(
    "sales_lines",
    key=("order_id", "line_no"),
    columns=("order_id", "line_no", "product_id", "quantity", "subtotal"),
)
# The statuses a cancellation leaves without having been paid.
UNPAID = frozenset({"pending"})


class SalesProjection(Projection):
    name = "sales"
    tables = (SALES_ORDERS, SALES_LINES)

    def on_OrderConfirmed(self, e: Event[contract.OrderConfirmed], changes: Changes) -> None:  # noqa: N802
        lines = e.data["lines"]
        changes.upsert(
            SALES_ORDERS,
            {
                "order_id": e.originator_id,
                "paid_on": e.timestamp.astimezone(UTC).date(),
                "items": sum(line["quantity"] for line in lines),
                "total": e.data["total"],
                "returned_on": None,
            },
        )
        for line_no, line in enumerate(lines, start=1):
            changes.upsert(
                SALES_LINES,
                {
                    "order_id": e.originator_id,
                    "line_no": line_no,
                    "product_id": line["product_id"],
                    "quantity": line["quantity"],
                    "subtotal": line["subtotal"],
                },
            )

    def on_OrderCancelled(self, e: Event[contract.OrderCancelled], changes: Changes) -> None:  # noqa: N802
        if e.data["previous_status"] not in UNPAID:
            self._returned(e, changes)

    def on_OrderRefunded(self, e: Event[contract.OrderRefunded], changes: Changes) -> None:  # noqa: N802
        # A refund returns the whole payment (its `amount` is the order's total).
        self._returned(e, changes)

    def _returned(self, e: Event[Any], changes: Changes) -> None:
        # A cancellation or a refund: only the order's id and the event's time are read.
        changes.patch(
            SALES_ORDERS,
            (e.originator_id,),
            set={"returned_on": e.timestamp.astimezone(UTC).date()},
        )
