"""The back office's sign-in: a signed session cookie naming an admin.

The cookie is a JWT (the API's own HS256 machinery, under LEDGER_SECRET_KEY) for another
audience than access tokens, so neither can stand in for the other. It is HttpOnly (no script
reads it), SameSite=Lax (other sites' forms do not carry it) and, in production, Secure. Each
page checks the users projection as well: an admin who was erased, or is no longer an admin,
is signed out at their next click."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request, Response

from api.security import ALGORITHM, ISSUER, verified_claims
from api.state import State
from ledger.domain import Role
from ledger.settings import Settings
from reads.users import user_by_id

COOKIE = "ledger_admin_session"
PATH = "/admin"
AUDIENCE = "ledger-admin"
LIFETIME_SECONDS = 8 * 3600


class SignInRequiredError(Exception):
    """The request has no valid admin session: the page sends the browser to sign in."""


@dataclass(frozen=True)
class Admin:
    user_id: str
    name: str


def session_token(settings: Settings, user_id: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "typ": "admin-session",
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


def session_user(settings: Settings, token: str) -> str | None:
    """The user id a session cookie names, or None when it is not a valid, live one."""
    try:
        claims = verified_claims(settings, token, AUDIENCE, ["exp", "iat", "sub", "iss", "aud"])
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return subject if claims.get("typ") == "admin-session" and isinstance(subject, str) else None


def set_session(response: Response, settings: Settings, user_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_token(settings, user_id),
        max_age=LIFETIME_SECONDS,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax")


async def signed_in_admin(request: Request, state: State) -> Admin:
    """The admin the session cookie names, still an admin in the users projection."""
    token = request.cookies.get(COOKIE)
    user_id = session_user(state.settings, token) if token else None
    if user_id is None:
        raise SignInRequiredError
    async with state.pool.connection() as conn:
        row = await user_by_id(conn, user_id)
    if row is None or row["role"] != Role.ADMIN.value:
        raise SignInRequiredError
    return Admin(user_id=user_id, name=row["name"])


SignedIn = Annotated[Admin, Depends(signed_in_admin)]
