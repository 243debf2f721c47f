"""The User aggregate, and the EmailClaim that makes emails unique in the event store itself.

An EmailClaim's id is derived from the normalised email (a keyed hash of it: ledger.personal),
so two registrations of one email both try to create version 1 of the same aggregate, or
append the same version to a released claim: the store refuses the second.

A user's name, email and password hash are sealed with their data key before they reach an
event (ledger.personal): the aggregate holds them sealed, as the store does. Erasing a user
records who did it; the key's deletion is what makes the data unreadable."""

from __future__ import annotations

from enum import StrEnum

from eventsourcing.domain import event

from ledger import contract
from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import DuplicateEmailError, NotFoundError


class Role(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(LedgerAggregate):
    """A shop user. Registration always makes a customer; admins come from the CLI."""

    @event(contract.USER_REGISTERED.name)
    def __init__(
        self,
        id: str,
        name: contract.Sealed,
        email: contract.Sealed,
        password_hash: contract.Sealed,
        role: str,
        email_claim: str | None,
    ) -> None:
        self.name = name
        self.email = email
        self.password_hash = password_hash
        self.role = Role(role)
        self.email_claim = email_claim
        self.erased = False

    def erase(self, erased_by: str) -> None:
        if self.erased:
            raise NotFoundError(f"user {self.id} not found")
        self._erased(erased_by)

    @event(contract.USER_ERASED.name)
    def _erased(self, erased_by: str) -> None:
        self.name = self.email = self.password_hash = contract.Sealed(contract.ERASED)
        self.erased = True


User.UserRegistered.class_version = contract.USER_REGISTERED.version  # type: ignore[attr-defined]


class EmailClaim(LedgerAggregate):
    """Holds one normalised email (by its keyed hash, the claim's id) for one user at a time."""

    @staticmethod
    def id_for(digest: str) -> str:
        """The id of the claim of the email whose keyed hash is `digest`."""
        return f"{contract.EMAIL_CLAIM_ID_PREFIX}{digest}"

    @event(contract.EMAIL_CLAIMED.name)
    def __init__(self, id: str, user_id: str) -> None:
        self.user_id: str | None = user_id

    def release(self) -> None:
        self._released()

    @event(contract.EMAIL_RELEASED.name)
    def _released(self) -> None:
        self.user_id = None

    def reclaim(self, user_id: str) -> None:
        if self.user_id is not None:
            raise DuplicateEmailError("this email is already registered", {"field": "email"})
        self._reclaimed(user_id)

    @event(contract.EMAIL_RECLAIMED.name)
    def _reclaimed(self, user_id: str) -> None:
        self.user_id = user_id
