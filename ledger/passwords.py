"""Password policy and argon2 hashing."""

from __future__ import annotations

import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ledger.domain.errors import ValidationError

MIN_LENGTH = 12
MAX_LENGTH = 256
# argon2id at OWASP's recommended minimum (Password Storage Cheat Sheet: 19 MiB, 2 passes,
# 1 lane): about 43 ms of CPU per hash here. The library's default (64 MiB, 3 passes, 4 lanes)
# took 285 ms of CPU and 64 MiB per hash: sign-ups saturated both cores at 200 users and each
# concurrent hash added 64 MiB to a worker. Hashes made with other parameters still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the email is unknown, so a login takes the same time either way.
_DUMMY_HASH = _hasher.hash("not-a-real-password-Aa1!")


def check_policy(password: str) -> None:
    """At least 12 characters, with upper, lower, digit and symbol."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    if not any(c.isupper() for c in password):
        problems.append("an upper-case letter")
    if not any(c.islower() for c in password):
        problems.append("a lower-case letter")
    if not any(c.isdigit() for c in password):
        problems.append("a digit")
    if not any(c in string.punctuation or not c.isalnum() for c in password):
        problems.append("a symbol")
    if problems:
        raise ValidationError("password needs " + ", ".join(problems), {"field": "password"})


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash, spends the same time and returns False."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
