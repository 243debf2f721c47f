"""/users: erasing a person (issue #14). The signed-in user's own erasure and export are under
/auth/me (api.routes.auth)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.errors import ErrorCode as E
from api.responses import respond
from api.routes import API_PREFIX
from api.schemas.common import Envelope, command_docs
from api.schemas.people import ErasedOut
from api.security import AdminUser
from api.writes import Commands, CommandsDep
from ledger.application import Ledger
from ledger.commands import EraseUser

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"])
# What an erasure changes: the user's row and their orders' addresses.
ERASED_VIEWS = ("users", "orders")
UserId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^usr_[0-9a-f]{1,60}$")]


@router.delete(
    "/{user_id}",
    response_model=Envelope[ErasedOut],
    **command_docs(E.UNAUTHORIZED, E.FORBIDDEN, E.NOT_FOUND, idempotent=False),
)
async def erase_user(user_id: UserId, admin: AdminUser, commands: CommandsDep) -> Response:
    """Erase a user (admin): their personal data becomes unreadable everywhere, their orders
    stay with name and address shown as "[erased]", their email may register again."""
    return await erase(commands, EraseUser(user_id=user_id, erased_by=admin.user_id))


async def erase(commands: Commands, command: EraseUser) -> Response:
    """Runs an erasure and waits for the views it changes."""
    result = await commands.run(Ledger.erase_user, command)
    settled = await commands.settle(result, ERASED_VIEWS)
    return respond(
        Envelope(message="User erased", data=ErasedOut(id=command.user_id)), 200, settled.headers
    )
