"""The `sales` read model: daily sales and daily sales per product, in UTC days.

An order counts as a sale on the day it is confirmed (paid); a refund counts on its own day."""

from __future__ import annotations

from datetime import UTC

from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

SALES_DAILY = Table(
    "sales_daily",
    key=("day",),
    columns=("day", "orders", "items", "gross", "refunds"),
    counters=("orders", "items", "gross", "refunds"),
)
PRODUCT_SALES_DAILY = Table(
    "product_sales_daily",
    key=("product_id", "day"),
    columns=("product_id", "day", "quantity", "revenue"),
    counters=("quantity", "revenue"),
)


class SalesProjection(Projection):
    name = "sales"
    tables = (SALES_DAILY, PRODUCT_SALES_DAILY)

    def on_OrderConfirmed(self, e: Event, changes: Changes) -> None:  # noqa: N802
        day = e.timestamp.astimezone(UTC).date()
        lines = e["lines"]
        changes.accumulate(
            SALES_DAILY,
            {
                "day": day,
                "orders": 1,
                "items": sum(line["quantity"] for line in lines),
                "gross": e["total"],
                "refunds": 0,
            },
        )
        for line in lines:
            changes.accumulate(
                PRODUCT_SALES_DAILY,
                {
                    "product_id": line["product_id"],
                    "day": day,
                    "quantity": line["quantity"],
                    "revenue": line["subtotal"],
                },
            )

    def on_OrderRefunded(self, e: Event, changes: Changes) -> None:  # noqa: N802
        day = e.timestamp.astimezone(UTC).date()
        changes.accumulate(
            SALES_DAILY, {"day": day, "orders": 0, "items": 0, "gross": 0, "refunds": e["amount"]}
        )
