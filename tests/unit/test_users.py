"""The User and EmailClaim aggregates."""

from __future__ import annotations

import pytest

from ledger import contract, personal
from ledger.domain import EmailClaim, Role, User
from ledger.domain.errors import DuplicateEmailError, NotFoundError
from ledger.domain.users import normalise_email

SEALED = contract.Sealed("pd1.sealed")


def make_user(role: str = "admin") -> User:
    return User(
        id="usr_1",
        name=SEALED,
        email=SEALED,
        password_hash=SEALED,
        role=role,
        email_claim="email:abc",
    )


def test_a_user_keeps_what_it_was_registered_with() -> None:
    user = make_user()
    assert user.role is Role.ADMIN
    assert (user.id, user.name, user.email_claim, user.erased) == (
        "usr_1",
        SEALED,
        "email:abc",
        False,
    )
    [registered] = user.collect_events()
    assert type(registered).__name__ == "UserRegistered"


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="superuser"):
        make_user(role="superuser")


def test_an_erased_user_holds_nothing_and_cannot_be_erased_again() -> None:
    user = make_user()
    user.erase("usr_admin")
    assert (user.name, user.email, user.password_hash, user.erased) == (
        contract.ERASED,
        contract.ERASED,
        contract.ERASED,
        True,
    )
    with pytest.raises(NotFoundError):
        user.erase("usr_admin")
    assert [type(e).__name__ for e in user.collect_events()] == ["UserRegistered", "UserErased"]


@pytest.mark.parametrize("email", ["Ada@Example.COM", "  ada@example.com\n", "ADA@EXAMPLE.COM"])
def test_emails_are_normalised_and_hashed_for_uniqueness(email: str) -> None:
    assert normalise_email(email) == "ada@example.com"
    digest = personal.email_digest(bytes(32), normalise_email(email))
    assert EmailClaim.id_for(digest) == "email:" + personal.email_digest(
        bytes(32), "ada@example.com"
    )
    assert "ada" not in digest


def test_an_email_claim_names_its_user_until_released_then_another() -> None:
    claim = EmailClaim(id=EmailClaim.id_for("abc"), user_id="usr_1")
    assert claim.user_id == "usr_1"
    with pytest.raises(DuplicateEmailError):
        claim.reclaim("usr_2")
    claim.release()
    claim.reclaim("usr_2")
    assert claim.user_id == "usr_2"
    assert [type(e).__name__ for e in claim.collect_events()] == [
        "EmailClaimed",
        "EmailReleased",
        "EmailReclaimed",
    ]
