"""The back office's lists: keyset pages over the read tables.

Each page asks for one row more than it shows, to know whether a next page exists, and
continues after the last row shown (`after`): no OFFSET, so page 1,000 costs what page 1 does,
and no count of the whole table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from reads import Conn, like_pattern, where
from reads.orders import ORDER_COLUMNS, OrderFilter

_PRODUCT_COLUMNS = (
    "id, name, description, price, currency, category, tags, images, on_hand, reserved, "
    "available, status, created_at, updated_at"
)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    more: bool  # a next page exists, starting after the last of `rows`


def _page(rows: list[dict[str, Any]], limit: int) -> Page:
    return Page(rows[:limit], len(rows) > limit)


async def products_page(
    conn: Conn, q: str | None, status: str | None, after: tuple[str, str] | None, limit: int
) -> Page:
    """Products of any status (or `status`), by name then id, matching `q` in name,
    description or id."""
    pattern = like_pattern(q) if q else None
    condition, params = where(
        [],
        {
            "status = %s": status,
            "(name ILIKE %s OR description ILIKE %s OR id = %s)": (pattern, pattern, q)
            if q
            else None,
            "(name, id) > (%s, %s)": after,
        },
    )
    query = sql.SQL("SELECT {} FROM products WHERE {} ORDER BY name, id LIMIT %s").format(
        sql.SQL(_PRODUCT_COLUMNS), condition
    )
    rows = await (await conn.execute(query, [*params, limit + 1])).fetchall()
    return _page(rows, limit)


async def orders_page(
    conn: Conn, filters: OrderFilter, after: tuple[datetime, str] | None, limit: int
) -> Page:
    """Orders matching `filters`, newest first."""
    condition, params = where(
        [],
        {
            "o.customer_id = %s": filters.customer_id,
            "o.status = %s": filters.status,
            "o.created_at >= %s": filters.created_from,
            "o.created_at < %s": filters.created_to,
            "(o.created_at, o.id) < (%s, %s)": after,
        },
    )
    query = sql.SQL(
        "SELECT {} FROM orders o WHERE {} ORDER BY o.created_at DESC, o.id DESC LIMIT %s"
    ).format(sql.SQL(ORDER_COLUMNS), condition)
    rows = await (await conn.execute(query, [*params, limit + 1])).fetchall()
    return _page(rows, limit)


async def users_page(conn: Conn, q: str | None, after: str | None, limit: int) -> Page:
    """Users by email, matching `q`: an id or an email exactly, or part of a name or email."""
    pattern = like_pattern(q) if q else None
    condition, params = where(
        [],
        {
            "(id = %s OR email = lower(%s) OR name ILIKE %s OR email ILIKE %s)": (
                q, q, pattern, pattern
            ) if q else None,
            "email > %s": after,
        },
    )  # fmt: skip
    query = sql.SQL(
        "SELECT id, name, email, role, created_at FROM users WHERE {} ORDER BY email LIMIT %s"
    ).format(condition)
    rows = await (await conn.execute(query, [*params, limit + 1])).fetchall()
    return _page(rows, limit)
