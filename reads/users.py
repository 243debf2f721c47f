"""Users as the `users` projection keeps them (for sign-in and /auth/me)."""

from __future__ import annotations

from typing import Any

from reads import Conn

# Every column by name, never `*` (see ORDER_COLUMNS in reads.orders).
_USER_COLUMNS = "id, name, email, password_hash, role, created_at"


async def user_by_email(conn: Conn, email: str) -> dict[str, Any] | None:
    query = f"SELECT {_USER_COLUMNS} FROM users WHERE email = %s"  # noqa: S608 - fixed text  # nosec B608
    cursor = await conn.execute(query, (email,))
    return await cursor.fetchone()


async def user_by_id(conn: Conn, user_id: str) -> dict[str, Any] | None:
    query = f"SELECT {_USER_COLUMNS} FROM users WHERE id = %s"  # noqa: S608 - fixed text  # nosec B608
    cursor = await conn.execute(query, (user_id,))
    return await cursor.fetchone()
