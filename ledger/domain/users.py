"""The User aggregate, and the EmailClaim that makes emails unique in the event store itself.

An EmailClaim's id is derived from the normalised email, so two registrations of one
email both try to create version 1 of the same aggregate: the store refuses the second."""

from __future__ import annotations

from enum import StrEnum

from eventsourcing.domain import event

from ledger import contract
from ledger.domain.base import LedgerAggregate


class Role(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(LedgerAggregate):
    """A shop user. Registration always makes a customer; admins come from the CLI."""

    @event(contract.USER_REGISTERED.name)
    def __init__(self, id: str, name: str, email: str, password_hash: str, role: str) -> None:
        self.name = name
        self.email = email
        self.password_hash = password_hash
        self.role = Role(role)


class EmailClaim(LedgerAggregate):
    """Holds one normalised email for one user."""

    @staticmethod
    def id_for(email: str) -> str:
        return f"email:{normalise_email(email)}"

    @event(contract.EMAIL_CLAIMED.name)
    def __init__(self, id: str, user_id: str) -> None:
        self.user_id = user_id
