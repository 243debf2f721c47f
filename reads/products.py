"""The product catalog as the `products` projection keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from reads import Conn, like_pattern, where

# Every column by name, never `*` (see ORDER_COLUMNS in reads.orders).
_PRODUCT_COLUMNS = (
    "id, name, description, price, currency, category, tags, images, on_hand, reserved, "
    "available, status, created_at, updated_at"
)
_ORDER_BY = {
    "name": "name ASC, id ASC",
    "-name": "name DESC, id ASC",
    "price": "price ASC, id ASC",
    "-price": "price DESC, id ASC",
    "-created_at": "created_at DESC, id ASC",
}


# What a cached catalog read is keyed by (api.cached_reads): the products projection's position
# and generation, and a version of what the response shows. For the list that is the position
# itself (any product may enter, leave or move in a page); for one product it is a digest of its
# row, so a write to another product keeps its entry. One statement, so the position and the row
# are of one snapshot. `version` is NULL when there is no such product: nothing to cache.
CATALOG_VERSION = (
    "SELECT position, generation, position::text AS version FROM projection_positions "
    "WHERE name = 'products'"
)
PRODUCT_VERSION = (
    "SELECT pp.position, pp.generation, md5(p::text) AS version "
    "FROM projection_positions pp LEFT JOIN products p ON p.id = %(product_id)s "
    "WHERE pp.name = 'products'"
)


@dataclass(frozen=True)
class ProductFilter:
    category: str | None = None
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None


async def get_product(conn: Conn, product_id: str) -> dict[str, Any] | None:
    query = f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE id = %s"  # noqa: S608 - fixed text  # nosec B608
    cursor = await conn.execute(query, (product_id,))
    return await cursor.fetchone()


async def list_products(
    conn: Conn, filters: ProductFilter, sort: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Active products matching `filters`, one page of them, and how many match in all."""
    stock = {True: ["available > 0"], False: ["available <= 0"], None: []}[filters.in_stock]
    pattern = like_pattern(filters.q) if filters.q else None
    condition, params = where(
        ["status = 'active'", *stock],
        {
            "lower(category) = lower(%s)": filters.category,
            "(name ILIKE %s OR description ILIKE %s)": (pattern, pattern) if pattern else None,
            "price >= %s": filters.min_price,
            "price <= %s": filters.max_price,
        },
    )
    query = sql.SQL(
        "SELECT {}, count(*) OVER () AS total_count FROM products WHERE {} "
        "ORDER BY {} LIMIT %s OFFSET %s"
    ).format(sql.SQL(_PRODUCT_COLUMNS), condition, sql.SQL(_ORDER_BY[sort]))
    rows = await (await conn.execute(query, [*params, limit, offset])).fetchall()
    if rows:
        return rows, int(rows[0]["total_count"])
    if offset == 0:
        return [], 0
    count_query = sql.SQL("SELECT count(*) AS n FROM products WHERE {}").format(condition)
    counted = await (await conn.execute(count_query, params)).fetchone()
    return [], int(counted["n"]) if counted else 0
