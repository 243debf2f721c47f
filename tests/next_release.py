"""A next release of the ledger, for the test of a read-model change (issue #13): its `orders`
projection is version 2 and fills a new column, `orders.item_count` (how many items the order
holds), which a migration added. Run as the CLI of that release:

    python -m tests.next_release projector run
    python -m tests.next_release projections rebuild orders

Everything else is today's code: the change is what a team would write (the table's columns,
the handler, the version bump), installed over today's projection before the CLI starts."""

from __future__ import annotations

from typing import Any

from projections import orders, registry
from projections.changes import Changes, Table
from projections.events import Event

CLI = "tests.next_release"
# What the release's migration adds (nullable: today's release keeps writing rows without it).
ADD_COLUMN = "ALTER TABLE orders ADD COLUMN item_count integer"
ORDERS_V2 = Table("orders", key=("id",), columns=(*orders.ORDERS.columns, "item_count"))


class OrdersV2(orders.OrdersProjection):
    """Version 2 of the orders read model: every order row has its item count."""

    version = 2
    tables = (ORDERS_V2, orders.ORDER_ITEMS, orders.ORDER_STATUS_HISTORY)

    def on_OrderPlaced(self, e: Event[Any], changes: Changes) -> None:  # noqa: N802
        super().on_OrderPlaced(e, changes)
        count = sum(int(item["quantity"]) for item in e.data["items"])
        changes.patch(ORDERS_V2, (e.originator_id,), set={"item_count": count})


def install() -> None:
    """Makes this process the next release: version 1's handlers write the new table shape
    (the module's ORDERS), and the registry names version 2."""
    orders.ORDERS = ORDERS_V2
    registry.PROJECTIONS["orders"] = OrdersV2


if __name__ == "__main__":
    install()
    from ledger_cli.main import main

    main()
