"""The User and EmailClaim aggregates."""

from __future__ import annotations

import pytest

from ledger.domain import EmailClaim, Role, User
from ledger.domain.users import normalise_email


def test_a_user_keeps_what_it_was_registered_with() -> None:
    user = User(id="usr_1", name="Ada", email="ada@example.com", password_hash="h", role="admin")  # type: ignore[arg-type]
    assert user.role is Role.ADMIN
    assert (user.id, user.name, user.email) == ("usr_1", "Ada", "ada@example.com")
    [registered] = user.collect_events()
    assert type(registered).__name__ == "UserRegistered"


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="superuser"):
        User(id="usr_1", name="Ada", email="a@b.c", password_hash="h", role="superuser")  # type: ignore[arg-type]


@pytest.mark.parametrize("email", ["Ada@Example.COM", "  ada@example.com\n", "ADA@EXAMPLE.COM"])
def test_emails_are_normalised_for_uniqueness(email: str) -> None:
    assert normalise_email(email) == "ada@example.com"
    assert EmailClaim.id_for(email) == "email:ada@example.com"


def test_an_email_claim_names_its_user() -> None:
    claim = EmailClaim(id=EmailClaim.id_for("ada@example.com"), user_id="usr_1")
    assert claim.user_id == "usr_1"
    assert [type(e).__name__ for e in claim.collect_events()] == ["EmailClaimed"]
