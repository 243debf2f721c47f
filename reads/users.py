"""Users as the `users` projection keeps them (for sign-in and /auth/me)."""

from __future__ import annotations

from typing import Any

from reads import Conn


async def user_by_email(conn: Conn, email: str) -> dict[str, Any] | None:
    cursor = await conn.execute("SELECT * FROM users WHERE email = %s", (email,))
    return await cursor.fetchone()


async def user_by_id(conn: Conn, user_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute("SELECT * FROM users WHERE id = %s", (user_id,))
    return await cursor.fetchone()
