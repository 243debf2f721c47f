"""Every projection the ledger runs, by name."""

from __future__ import annotations

from projections.base import Projection
from projections.history import HistoryProjection
from projections.inventory import InventoryProjection
from projections.orders import OrdersProjection
from projections.products import ProductsProjection
from projections.sales import SalesProjection
from projections.users import UsersProjection

PROJECTIONS: dict[str, type[Projection]] = {
    cls.name: cls
    for cls in (
        ProductsProjection,
        UsersProjection,
        OrdersProjection,
        InventoryProjection,
        SalesProjection,
        HistoryProjection,
    )
}


class UnknownProjectionError(ValueError):
    """A name that is not one of PROJECTIONS."""


def resolve(names: list[str] | None) -> list[Projection]:
    """Instances of the named projections (all of them when `names` is empty)."""
    chosen = names or list(PROJECTIONS)
    unknown = [n for n in chosen if n not in PROJECTIONS]
    if unknown:
        known = ", ".join(PROJECTIONS)
        raise UnknownProjectionError(f"unknown projection {', '.join(unknown)} (known: {known})")
    return [PROJECTIONS[n]() for n in dict.fromkeys(chosen)]
