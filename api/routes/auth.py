"""/auth: register, login, refresh, me."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from api.consistency import Consistency, consistent_with
from api.errors import ApiError
from api.errors import ErrorCode as E
from api.idempotency import Idempotent
from api.responses import respond
from api.routes import API_PREFIX
from api.routes.users import ERASED_VIEWS, erase
from api.schemas.auth import LoginIn, RefreshIn, RegisteredOut, RegisterIn, TokensOut, UserOut
from api.schemas.common import Envelope, command_docs, error_responses, read_responses
from api.schemas.people import ErasedOut, EraseMeIn, ExportOut
from api.security import CurrentUser
from api.state import ApiState, State
from api.tokens import issue_tokens, rotate_tokens
from api.writes import Commands, CommandsDep
from ledger.application import Ledger
from ledger.commands import EraseUser, RegisterUser
from ledger.domain import Role
from ledger.domain.users import normalise_email
from ledger.passwords import check_policy, hash_password, verify_password
from reads.people import person
from reads.users import user_by_email, user_by_id

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])
USERS = ("users",)
UsersRead = Annotated[Consistency, Depends(consistent_with(*USERS))]
PersonRead = Annotated[Consistency, Depends(consistent_with(*ERASED_VIEWS))]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post(
    "/register",
    status_code=201,
    response_model=Envelope[RegisteredOut],
    **command_docs(E.CONFLICT, E.RATE_LIMITED, success=201),
)
async def register(
    body: RegisterIn, request: Request, state: State, commands: CommandsDep, once: Idempotent
) -> Response:
    """Create a customer account."""
    await state.limiter.hit(
        "auth-address", client_address(request), state.settings.auth_address_rate
    )
    check_policy(body.password)
    scope = f"addr:{client_address(request)}"
    return await once(scope, partial(_register, body, state, commands))


async def _register(body: RegisterIn, state: State, commands: Commands) -> Response:
    """Registers the user (the password hashed once the Idempotency-Key is claimed)."""
    password_hash = await asyncio.get_running_loop().run_in_executor(
        state.hashing, hash_password, body.password
    )
    command = RegisterUser(name=body.name, email=body.email, password_hash=password_hash)
    result = await commands.run(Ledger.register_user, command)
    settled = await commands.settle(result, USERS)
    user = RegisteredOut(
        id=result.aggregate_id,
        name=body.name,
        email=normalise_email(body.email),
        role=Role.CUSTOMER.value,
    )
    return respond(
        Envelope(message="User registered successfully", data=user), 201, settled.headers
    )


@router.post(
    "/login",
    response_model=Envelope[TokensOut],
    responses=error_responses(E.UNAUTHORIZED, E.PAYLOAD_TOO_LARGE, E.RATE_LIMITED),
)
async def login(body: LoginIn, request: Request, state: State) -> Response:
    """Sign in with email and password; returns an access and a refresh token."""
    user = await authenticate(state, request, body.email, body.password)
    async with state.pool.connection() as conn:
        tokens = await issue_tokens(conn, state.settings, user["id"], user["role"])
    return respond(Envelope(message="Signed in", data=tokens))


async def authenticate(
    state: ApiState, request: Request, email: str, password: str
) -> dict[str, Any]:
    """The user row `email` and `password` sign in as (the API's login and the back office's
    both), under the sign-in rate limits; UNAUTHORIZED when they do not match."""
    settings = state.settings
    email = normalise_email(email)
    await state.limiter.hit("auth-address", client_address(request), settings.auth_address_rate)
    # A failed-login slot is taken before the password is checked, so concurrent attempts
    # cannot all pass; only a wrong password keeps it.
    reservation = await state.limiter.reserve("login-email", email, settings.login_rate)
    wrong_password = False
    try:
        async with state.pool.connection() as conn:
            user = await user_by_email(conn, email)
        password_hash = user["password_hash"] if user else None
        valid = await asyncio.get_running_loop().run_in_executor(
            state.hashing, verify_password, password_hash, password
        )
        if not valid or user is None:
            wrong_password = True
            raise ApiError("UNAUTHORIZED", "invalid email or password")
        return user
    finally:
        if not wrong_password:
            await state.limiter.release(reservation)


@router.post(
    "/refresh",
    response_model=Envelope[TokensOut],
    responses=error_responses(E.UNAUTHORIZED, E.PAYLOAD_TOO_LARGE),
)
async def refresh(body: RefreshIn, state: State) -> Response:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    async with state.pool.connection() as conn:
        tokens = await rotate_tokens(conn, state.settings, body.refresh_token)
    return respond(Envelope(message="Tokens refreshed", data=tokens))


@router.get(
    "/me",
    response_model=Envelope[UserOut],
    responses=read_responses(E.UNAUTHORIZED, E.NOT_FOUND),
)
async def me(
    user: CurrentUser,
    state: State,
    consistency: UsersRead,
) -> Response:
    """The signed-in user."""
    async with state.pool.connection() as conn:
        row = await user_by_id(conn, user.user_id)
    if row is None:
        raise ApiError("NOT_FOUND", "this user is not known (yet)")
    return respond(
        Envelope(message="Current user", data=UserOut.from_row(row)), 200, consistency.headers
    )


@router.get(
    "/me/export",
    response_model=Envelope[ExportOut],
    responses=read_responses(E.UNAUTHORIZED, E.NOT_FOUND),
)
async def export_me(user: CurrentUser, state: State, consistency: PersonRead) -> Response:
    """Everything the ledger holds about the signed-in user: profile, and orders with their
    addresses and histories (GDPR access and portability)."""
    async with state.pool.connection() as conn:
        found = await person(conn, user.user_id)
    if found is None:
        raise ApiError("NOT_FOUND", "this user is not known (yet)")
    document = ExportOut.from_person(found)
    return respond(
        Envelope(message="Everything the ledger holds about you", data=document),
        200,
        consistency.headers,
    )


@router.delete(
    "/me",
    response_model=Envelope[ErasedOut],
    **command_docs(E.UNAUTHORIZED, E.NOT_FOUND, idempotent=False),
)
async def erase_me(
    body: EraseMeIn, user: CurrentUser, state: State, commands: CommandsDep
) -> Response:
    """Erase the signed-in user, who confirms with their password."""
    async with state.pool.connection() as conn:
        row = await user_by_id(conn, user.user_id)
    password_hash = row["password_hash"] if row else None
    valid = await asyncio.get_running_loop().run_in_executor(
        state.hashing, verify_password, password_hash, body.password
    )
    if not valid:
        raise ApiError("UNAUTHORIZED", "the password is wrong")
    return await erase(commands, EraseUser(user_id=user.user_id, erased_by=user.user_id))
