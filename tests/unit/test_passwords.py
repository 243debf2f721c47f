"""The password policy and argon2 hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from ledger.domain import ValidationError
from ledger.passwords import check_policy, hash_password, verify_password

GOOD = "Correct-Horse-9"


@pytest.mark.parametrize("password", [GOOD, "aB3$aB3$aB3$", "Pässwörd 1234", "x" * 200 + "A1!"])
def test_policy_accepts_strong_passwords(password: str) -> None:
    check_policy(password)


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("Sh0rt!", "at least 12 characters"),
        ("alllowercase1!", "an upper-case letter"),
        ("ALLUPPERCASE1!", "a lower-case letter"),
        ("NoDigitsHere!!", "a digit"),
        ("NoSymbols12345", "a symbol"),
        ("Aa1!" * 65, "at most 256 characters"),
    ],
)
def test_policy_names_what_is_missing(password: str, missing: str) -> None:
    with pytest.raises(ValidationError, match=missing) as caught:
        check_policy(password)
    assert caught.value.details == {"field": "password"}


def test_policy_lists_every_problem_in_one_message() -> None:
    with pytest.raises(ValidationError) as caught:
        check_policy("abc")
    assert caught.value.message == (
        "password needs at least 12 characters, an upper-case letter, a digit, a symbol"
    )


def test_hash_verifies_only_the_same_password() -> None:
    hashed = hash_password(GOOD)
    assert hashed.startswith("$argon2")
    assert GOOD not in hashed
    assert verify_password(hashed, GOOD)
    assert not verify_password(hashed, GOOD + "x")


def test_verify_without_a_hash_or_with_garbage_is_false() -> None:
    assert not verify_password(None, GOOD)
    assert not verify_password("not-a-hash", GOOD)


def test_hashes_use_owasps_argon2id_parameters_and_older_hashes_still_verify() -> None:
    assert hash_password(GOOD).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    older = PasswordHasher().hash(GOOD)  # the library's defaults, as earlier releases stored
    assert verify_password(older, GOOD)
    assert not verify_password(older, GOOD + "x")
