"""The `products` read model: the catalog as the API lists and shows it."""

from __future__ import annotations

from typing import Any

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


class ProductsProjection(Projection):
    name = "products"
    tables = (PRODUCTS,)

    def on_ProductCreated(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
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

    def on_ProductUpdated(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        details = {k: e.data[k] for k in ("name", "description", "category", "tags", "images")}
        self._set(e, changes, **details)

    def on_PriceChanged(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        self._set(e, changes, price=e.data["price"])

    def on_StockReceived(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_StockAdjusted(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_StockReserved(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_StockReleased(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_StockShipped(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        self._stock(e, changes)

    def on_ProductDiscontinued(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        self._set(e, changes, status="discontinued")

    def _stock(self, e: Event[Any], changes: Changes) -> None:
        self._set(e, changes, on_hand=e.data["on_hand"], reserved=e.data["reserved"])

    def _set(self, e: Event[Any], changes: Changes, **values: object) -> None:
        changes.patch(PRODUCTS, (e.originator_id,), set={**values, "updated_at": e.timestamp})
