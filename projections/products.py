"""The `products` read model: the catalog as the API lists and shows it."""

from __future__ import annotations

from typing import Any, TypeVar

from ledger import contract
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

PRODUCTS = Table(
    "products",
    key=("id",),
    columns=(
        "id", "name", "description", "price", "currency", "category", "tags", "images",
        "on_hand", "reserved", "status", "created_at", "updated_at",
    ),
)  # fmt: skip
# Any stock event: each carries the stock it left.
StockEvent = TypeVar("StockEvent", bound=contract.StockChange)


class ProductsProjection(Projection):
    name = "products"
    tables = (PRODUCTS,)

    def on_ProductCreated(self, e: Event[contract.ProductCreated], changes: Changes) -> None:  # noqa: N802
        changes.upsert(
            PRODUCTS,
            {
                "id": e.originator_id,
                "name": e.data["name"],
                "description": e.data["description"],
                "price": e.data["price"],
                "currency": e.data["currency"],
                "category": e.data["category"],
                "tags": e.data["tags"],
                "images": e.data["images"],
                "on_hand": e.data["on_hand"],
                "reserved": 0,
                "status": "active",
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
            },
        )

    def on_ProductUpdated(self, e: Event[contract.ProductUpdated], changes: Changes) -> None:  # noqa: N802
        details = {k: e.data[k] for k in ("name", "description", "category", "tags", "images")}
        self._set(e, changes, **details)

    def on_PriceChanged(self, e: Event[contract.PriceChanged], changes: Changes) -> None:  # noqa: N802
        self._set(e, changes, price=e.data["price"])

    def on_StockReceived(self, e: Event[contract.StockReceived], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_StockAdjusted(self, e: Event[contract.StockAdjusted], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_StockReserved(self, e: Event[contract.StockReserved], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_StockReleased(self, e: Event[contract.StockReleased], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_StockShipped(self, e: Event[contract.StockShipped], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_ProductDiscontinued(  # noqa: N802
        self, e: Event[contract.ProductDiscontinued], changes: Changes
    ) -> None:
        self._set(e, changes, status="discontinued")

    def _stock(self, e: Event[StockEvent], changes: Changes) -> None:
        self._set(e, changes, on_hand=e.data["on_hand"], reserved=e.data["reserved"])

    def _set(self, e: Event[Any], changes: Changes, **values: object) -> None:
        # Any event of a product: only its id and time are read.
        changes.patch(PRODUCTS, (e.originator_id,), set={**values, "updated_at": e.timestamp})
