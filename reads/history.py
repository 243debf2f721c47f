"""One stream's events (a product's, an order's, a user's), newest first, as the `history`
projection keeps them: keyset pages by store position, never an OFFSET, so a page of a
stream with a million events costs what the first page does."""

from __future__ import annotations

from typing import Any

from reads import Conn

# Every column by name (docs/architecture.md, Read side). Newest first: the stream's index
# (stream_id, position, part) read backwards; the events of one split stored row share a
# position and read newest (last part) first too.
_COLUMNS = "position, part, stream_id, version, event, recorded_at, fields"
_PAGE = (
    f"SELECT {_COLUMNS} FROM event_history "  # noqa: S608 - fixed text  # nosec B608
    "WHERE stream_id = %s AND position < %s ORDER BY position DESC, part DESC LIMIT %s"
)
_POSITION = (
    f"SELECT {_COLUMNS} FROM event_history "  # noqa: S608 - fixed text  # nosec B608
    "WHERE stream_id = %s AND position = %s ORDER BY part DESC"
)
_OLDER = "SELECT EXISTS (SELECT FROM event_history WHERE stream_id = %s AND position < %s) AS more"
# Past any position: the first page.
_NEWEST = 2**63 - 1


async def stream_events(
    conn: Conn, stream_id: str, before_position: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` events of `stream_id` stored before `before_position` (from the newest
    when None), newest first, and whether older ones exist. The next page is the one before
    the last row's position.

    A page ends between positions, so the events an upcaster split one stored row into are
    never cut across pages: a page may hold fewer than `limit` rows because of that, and, when
    one stored row's events alone are more than `limit`, it holds all of them."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    before = _NEWEST if before_position is None else before_position
    rows = await (await conn.execute(_PAGE, (stream_id, before, limit + 1))).fetchall()
    if len(rows) <= limit:
        return rows, False
    # The row past the page shares its position with the rows before it: they go to the next
    # page together, unless they are the whole page.
    boundary = rows[limit]["position"]
    page = [row for row in rows[:limit] if row["position"] != boundary]
    if page:
        return page, True
    page = await (await conn.execute(_POSITION, (stream_id, boundary))).fetchall()
    older = await (await conn.execute(_OLDER, (stream_id, boundary))).fetchone()
    return page, bool(older and older["more"])
