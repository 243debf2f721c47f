"""Passwords and tokens as the ledger's API does them: argon2id with ledger/passwords.py's
parameters (tests/unit/test_crud_baseline.py holds them equal), HS256 access tokens with
api/security.py's claims, and an opaque refresh token stored as its SHA-256 (api/tokens.py)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ISSUER = "ledger"
AUDIENCE = "ledger-api"
ALGORITHM = "HS256"
ACCESS_TOKEN_SECONDS = 15 * 60  # the ledger's default access_token_minutes
REFRESH_TOKEN_DAYS = 14
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH = hasher.hash("not-a-real-password-Aa1!")


class InvalidTokenError(Exception):
    pass


def verify_password(password_hash: str | None, password: str) -> bool:
    """As ledger.passwords.verify_password: an unknown email costs a hash too."""
    try:
        return hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def access_token(secret: str, user_id: str, role: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "role": role,
        "typ": "access",
        "iat": now,
        "nbf": now,
        "exp": now + ACCESS_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def token_subject(secret: str, token: str) -> str:
    """The user id of a valid access token; InvalidTokenError otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=5,
            options={"require": ["exp", "nbf", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        raise InvalidTokenError from None
    if claims.get("typ") != "access" or not isinstance(claims.get("sub"), str):
        raise InvalidTokenError
    return str(claims["sub"])


def refresh_token() -> tuple[str, str]:
    """A new refresh token and the digest stored for it."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()
