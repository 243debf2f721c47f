"""The `users` read model: what login and /auth/me read. The personal fields arrive opened
(projections.events); an erased user's read as "[erased]", and a UserErased overwrites them
in the row projected before the erasure."""

from __future__ import annotations

from ledger import contract
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

USERS = Table(
    "users",
    key=("id",),
    columns=("id", "name", "email", "password_hash", "role", "created_at"),
)


class UsersProjection(Projection):
    name = "users"
    tables = (USERS,)

    def on_UserRegistered(self, e: Event[contract.UserRegistered], changes: Changes) -> None:  # noqa: N802
        changes.upsert(
            USERS,
            {
                "id": e.originator_id,
                "name": e.data["name"],
                "email": e.data["email"],
                "password_hash": e.data["password_hash"],
                "role": e.data["role"],
                "created_at": e.timestamp,
            },
        )

    def on_UserErased(self, e: Event[contract.UserErased], changes: Changes) -> None:  # noqa: N802
        erased = contract.USER_REGISTERED.personal
        changes.patch(USERS, (e.originator_id,), set=dict(erased))
