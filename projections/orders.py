"""The `orders` read model: orders, their lines, and one history row per status change. The
shipping address arrives opened (projections.events), or erased once its customer is."""

from __future__ import annotations

from typing import Any, TypeVar

from ledger import contract
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

ORDERS = Table(
    "orders",
    key=("id",),
    columns=(
        "id", "customer_id", "status", "total", "currency", "shipping_address",
        "payment_method", "payment_intent_id", "carrier", "tracking_number",
        "created_at", "updated_at",
    ),
)  # fmt: skip
ORDER_ITEMS = Table(
    "order_items",
    key=("order_id", "line_no"),
    columns=("order_id", "line_no", "product_id", "name", "quantity", "unit_price", "subtotal"),
)
ORDER_STATUS_HISTORY = Table(
    "order_status_history",
    key=("order_id", "version"),
    columns=("order_id", "version", "status", "at", "actor", "reason"),
)
# Any order event after OrderPlaced: each names its actor.
StatusEvent = TypeVar("StatusEvent", bound=contract.StatusChange)


class OrdersProjection(Projection):
    name = "orders"
    tables = (ORDERS, ORDER_ITEMS, ORDER_STATUS_HISTORY)

    def on_OrderPlaced(self, e: Event[contract.OrderPlaced], changes: Changes) -> None:  # noqa: N802
        changes.upsert(
            ORDERS,
            {
                "id": e.originator_id,
                "customer_id": e.data["customer_id"],
                "status": "pending",
                "total": e.data["total"],
                "currency": e.data["currency"],
                "shipping_address": e.data["shipping_address"],
                "payment_method": e.data["payment_method"],
                "payment_intent_id": None,
                "carrier": None,
                "tracking_number": None,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )
        for line_no, item in enumerate(e.data["items"], start=1):
            changes.upsert(
                ORDER_ITEMS,
                {
                    "order_id": e.originator_id,
                    "line_no": line_no,
                    "product_id": item["product_id"],
                    "name": item["name"],
                    "quantity": item["quantity"],
                    "unit_price": item["unit_price"],
                    "subtotal": item["subtotal"],
                },
            )
        self._history(e, changes, "pending", e.data["customer_id"], None)

    def on_OrderConfirmed(self, e: Event[contract.OrderConfirmed], changes: Changes) -> None:  # noqa: N802
        self._status(e, changes, "confirmed", payment_intent_id=e.data["payment_intent_id"])

    def on_OrderProcessingStarted(  # noqa: N802
        self, e: Event[contract.OrderProcessingStarted], changes: Changes
    ) -> None:
        self._status(e, changes, "processing")

    def on_OrderShipped(self, e: Event[contract.OrderShipped], changes: Changes) -> None:  # noqa: N802
        self._status(
            e,
            changes,
            "shipped",
            carrier=e.data["carrier"],
            tracking_number=e.data["tracking_number"],
        )

    def on_OrderDelivered(self, e: Event[contract.OrderDelivered], changes: Changes) -> None:  # noqa: N802
        self._status(e, changes, "delivered")

    def on_OrderCancelled(self, e: Event[contract.OrderCancelled], changes: Changes) -> None:  # noqa: N802
        self._status(e, changes, "cancelled", reason=e.data["reason"])

    def on_OrderRefunded(self, e: Event[contract.OrderRefunded], changes: Changes) -> None:  # noqa: N802
        self._status(e, changes, "refunded", reason=e.data["reason"])

    def on_UserErased(self, e: Event[contract.UserErased], changes: Changes) -> None:  # noqa: N802
        """The customer's orders stay, their shipping address erased (a rebuild reads it
        erased: the customer's key is gone)."""
        erased = contract.ORDER_PLACED.personal
        changes.update_where(ORDERS, "customer_id", e.originator_id, dict(erased))

    def _status(
        self,
        e: Event[StatusEvent],
        changes: Changes,
        status: str,
        reason: str | None = None,
        **values: object,
    ) -> None:
        changes.patch(
            ORDERS, (e.originator_id,), set={**values, "status": status, "updated_at": e.timestamp}
        )
        self._history(e, changes, status, e.data["actor"], reason)

    def _history(
        self, e: Event[Any], changes: Changes, status: str, actor: str, reason: str | None
    ) -> None:
        # Any order event: the caller reads its actor (OrderPlaced's is the customer) and reason
        # (only cancellations and refunds give one).
        changes.upsert(
            ORDER_STATUS_HISTORY,
            {
                "order_id": e.originator_id,
                "version": e.version,
                "status": status,
                "at": e.timestamp,
                "actor": actor,
                "reason": reason,
            },
        )
