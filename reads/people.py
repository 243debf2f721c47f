"""Everything the read tables hold about one person (GDPR access and portability, issue #14):
their user row and their orders, each with its lines and status history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reads import Conn
from reads.orders import ORDER_COLUMNS, order_history
from reads.users import user_by_id


@dataclass(frozen=True)
class Person:
    user: dict[str, Any]
    orders: list[dict[str, Any]]
    histories: dict[str, list[dict[str, Any]]]  # by order id


async def person(conn: Conn, user_id: str) -> Person | None:
    """The person's user row, orders (oldest first) and histories; None for an unknown id."""
    user = await user_by_id(conn, user_id)
    if user is None:
        return None
    query = (
        f"SELECT {ORDER_COLUMNS} FROM orders o WHERE o.customer_id = %s "  # noqa: S608 - fixed text  # nosec B608
        "ORDER BY o.created_at, o.id"
    )
    orders = await (await conn.execute(query, (user_id,))).fetchall()
    histories = {order["id"]: await order_history(conn, order["id"]) for order in orders}
    return Person(user, orders, histories)
