"""Who is calling: JWT access tokens (HS256) and the dependencies that require a user or an
admin. 401 when the caller is not signed in or the token is bad; 403 when signed in but not
allowed."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.state import State
from ledger.domain import Role
from ledger.settings import Settings

ISSUER = "ledger"
AUDIENCE = "ledger-api"
ALGORITHM = "HS256"
_LEEWAY_SECONDS = 5
_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login")
# Access tokens already verified, each with the seconds it is valid within: a client sends its
# token with every request, and checking its signature each time was a twentieth of an API
# worker's CPU under order load. Forgotten all at once when full.
_MAX_VERIFIED = 10_000
_verified: dict[tuple[str, str], tuple[Principal, float, float]] = {}


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def create_access_token(settings: Settings, user_id: str, role: str) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    lifetime = settings.access_token_minutes * 60
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "role": role,
        "typ": "access",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), lifetime


def verified_claims(
    settings: Settings, token: str, audience: str, required: list[str]
) -> dict[str, Any]:
    """The claims of a token this API signed for `audience` (an access token, a back-office
    session); raises jwt.PyJWTError when it is not one, or no longer valid."""
    claims: dict[str, Any] = jwt.decode(
        token,
        settings.secret_key,
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=ISSUER,
        leeway=_LEEWAY_SECONDS,
        options={"require": required},
    )
    return claims


def decode_access_token(settings: Settings, token: str) -> Principal:
    """The caller an access token names; a token verified before is only checked against the
    time it is valid within (outside it, verified again, to say why it is refused)."""
    key = (settings.secret_key, token)
    known = _verified.get(key)
    if known is not None and known[1] <= time.time() <= known[2]:
        return known[0]
    principal, claims = _verify_access_token(settings, token)
    if len(_verified) >= _MAX_VERIFIED:
        _verified.clear()
    start = max(float(claims["nbf"]), float(claims["iat"])) - _LEEWAY_SECONDS
    _verified[key] = (principal, start, float(claims["exp"]) + _LEEWAY_SECONDS)
    return principal


def _verify_access_token(settings: Settings, token: str) -> tuple[Principal, dict[str, Any]]:
    try:
        claims = verified_claims(
            settings, token, AUDIENCE, ["exp", "nbf", "iat", "sub", "iss", "aud"]
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the access token has expired") from None
    except jwt.PyJWTError:
        raise _unauthorized("the access token is invalid") from None
    if claims.get("typ") != "access" or not isinstance(claims.get("sub"), str):
        raise _unauthorized("the access token is invalid")
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise _unauthorized("the access token is invalid") from None
    return Principal(claims["sub"], role), claims


def _unauthorized(message: str) -> ApiError:
    return ApiError("UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


async def optional_user(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer":
        raise _unauthorized("use a Bearer token")
    return decode_access_token(state.settings, credentials.credentials)


async def current_user(
    user: Annotated[Principal | None, Depends(optional_user)],
) -> Principal:
    if user is None:
        raise _unauthorized("sign in first")
    return user


async def current_admin(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not user.is_admin:
        raise ApiError("FORBIDDEN", "this needs an admin")
    return user


OptionalUser = Annotated[Principal | None, Depends(optional_user)]
CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(current_admin)]
