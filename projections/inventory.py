"""The `inventory` read model: stock per product, with the movements that explain it
(on hand = received - adjusted - shipped, initial stock counting as received)."""

from __future__ import annotations

from typing import Any, TypeVar

from ledger import contract
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

INVENTORY = Table(
    "inventory",
    key=("product_id",),
    columns=(
        "product_id", "name", "price", "currency", "status", "on_hand", "reserved",
        "received_total", "adjusted_total", "shipped_total", "updated_at",
    ),
)  # fmt: skip
# Any stock event: each carries the quantity moved and the stock it left.
StockEvent = TypeVar("StockEvent", bound=contract.StockChange)


class InventoryProjection(Projection):
    name = "inventory"
    tables = (INVENTORY,)

    def on_ProductCreated(self, e: Event[contract.ProductCreated], changes: Changes) -> None:  # noqa: N802
        changes.upsert(
            INVENTORY,
            {
                "product_id": e.originator_id,
                "name": e.data["name"],
                "price": e.data["price"],
                "currency": e.data["currency"],
                "status": "active",
                "on_hand": e.data["on_hand"],
                "reserved": 0,
                "received_total": e.data["on_hand"],
                "adjusted_total": 0,
                "shipped_total": 0,
                "updated_at": e.timestamp,
            },
        )

    def on_ProductUpdated(self, e: Event[contract.ProductUpdated], changes: Changes) -> None:  # noqa: N802
        self._patch(e, changes, {"name": e.data["name"]})

    def on_PriceChanged(self, e: Event[contract.PriceChanged], changes: Changes) -> None:  # noqa: N802
        self._patch(e, changes, {"price": e.data["price"]})

    def on_ProductDiscontinued(  # noqa: N802
        self, e: Event[contract.ProductDiscontinued], changes: Changes
    ) -> None:
        self._patch(e, changes, {"status": "discontinued"})

    def on_StockReceived(self, e: Event[contract.StockReceived], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes, "received_total")

    def on_StockAdjusted(self, e: Event[contract.StockAdjusted], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes, "adjusted_total")

    def on_StockShipped(self, e: Event[contract.StockShipped], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes, "shipped_total")

    def on_StockReserved(self, e: Event[contract.StockReserved], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes, None)

    def on_StockReleased(self, e: Event[contract.StockReleased], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes, None)

    def _stock(self, e: Event[StockEvent], changes: Changes, total: str | None) -> None:
        stock: dict[str, object] = {"on_hand": e.data["on_hand"], "reserved": e.data["reserved"]}
        self._patch(e, changes, stock, {total: e.data["quantity"]} if total else None)

    def _patch(
        self,
        e: Event[Any],
        changes: Changes,
        values: dict[str, object],
        inc: dict[str, int] | None = None,
    ) -> None:
        # Any event of a product: only its id and time are read.
        changes.patch(
            INVENTORY, (e.originator_id,), set={**values, "updated_at": e.timestamp}, inc=inc
        )
