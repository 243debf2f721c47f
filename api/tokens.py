"""Refresh tokens: opaque random strings, stored only as hashes, in families.

Each refresh rotates the token (the old one stops working). Presenting a token that was
already rotated means it leaked: the whole family is revoked, the thief's copy and the
owner's alike."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from api.errors import ApiError
from api.schemas.auth import TokensOut
from api.security import create_access_token
from ledger.settings import Settings
from reads import Conn

_TOKEN_BYTES = 32


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_tokens(
    conn: Conn, settings: Settings, user_id: str, role: str, family_id: str | None = None
) -> TokensOut:
    """A new access token and a new refresh token (in `family_id`, or a new family)."""
    refresh = secrets.token_urlsafe(_TOKEN_BYTES)
    expires_at = datetime.now(UTC) + timedelta(days=settings.refresh_token_days)
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) "
        "VALUES (%s, %s, %s, %s)",
        (_digest(refresh), family_id or secrets.token_hex(16), user_id, expires_at),
    )
    access, lifetime = create_access_token(settings, user_id, role)
    return TokensOut(access_token=access, refresh_token=refresh, expires_in=lifetime)


async def rotate_tokens(conn: Conn, settings: Settings, refresh_token: str) -> TokensOut:
    """Exchanges a live refresh token for a new pair; 401 for anything else."""
    async with conn.transaction():
        row = await (
            await conn.execute(
                "SELECT t.family_id, t.user_id, t.expires_at, t.rotated_at, t.revoked_at, u.role "
                "FROM refresh_tokens t LEFT JOIN users u ON u.id = t.user_id "
                "WHERE t.token_hash = %s FOR UPDATE OF t",
                (_digest(refresh_token),),
            )
        ).fetchone()
        if row is None:
            raise _invalid()
        if row["rotated_at"] is not None or row["revoked_at"] is not None:
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now() "
                "WHERE family_id = %s AND revoked_at IS NULL",
                (row["family_id"],),
            )
        elif row["expires_at"] <= datetime.now(UTC) or row["role"] is None:
            raise _invalid()
        else:
            await conn.execute(
                "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = %s",
                (_digest(refresh_token),),
            )
            return await issue_tokens(conn, settings, row["user_id"], row["role"], row["family_id"])
    # Only a reused token gets here, after the transaction, so the revocation is committed.
    raise ApiError("UNAUTHORIZED", "this refresh token was already used; sign in again")


def _invalid() -> ApiError:
    return ApiError("UNAUTHORIZED", "the refresh token is invalid or expired")


async def purge_expired_tokens(conn: Conn) -> int:
    """Deletes refresh tokens past their expiry (they can never be used again); returns how
    many. Their families stay revocable through the live tokens."""
    cursor = await conn.execute("DELETE FROM refresh_tokens WHERE expires_at < now()")
    return cursor.rowcount
