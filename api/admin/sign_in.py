"""Signing in and out of the back office: the API's own sign-in check (its rate limits, its
password hashing threads), an admin account only, and a session cookie (api.admin.session)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from api.admin import csrf
from api.admin.failures import AdminRoute
from api.admin.pages import page
from api.admin.session import COOKIE, PATH, clear_session, session_user, set_session
from api.errors import ApiError
from api.routes.auth import authenticate
from api.state import State
from ledger.domain import Role

router = APIRouter(prefix=PATH, route_class=AdminRoute, include_in_schema=False)


def _next_page(target: str | None) -> str:
    """Where to go once signed in: a console page the sign-in was asked for, else the start.
    Only a path of this console: a link cannot send the admin anywhere else."""
    if target and target.startswith(PATH) and not target.startswith("//") and "\\" not in target:
        return target
    return PATH


@router.get("/login")
async def sign_in_page(request: Request, state: State, next: str | None = None) -> Response:
    token = request.cookies.get(COOKIE)
    if token and session_user(state.settings, token):
        return RedirectResponse(_next_page(next), status_code=303)
    return page(request, state, "login.html", None, target=_next_page(next))


@router.post("/login", dependencies=[Depends(csrf.check_csrf)])
async def sign_in(
    request: Request,
    state: State,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    target: Annotated[str, Form(max_length=2000)] = PATH,
) -> Response:
    user = await authenticate(state, request, email, password)
    if user["role"] != Role.ADMIN.value:
        raise ApiError("FORBIDDEN", "the back office is for admin accounts only")
    response = RedirectResponse(f"{_next_page(target)}?done=signed-in", status_code=303)
    set_session(response, state.settings, user["id"])
    csrf.new_nonce(request)  # a nonce planted before signing in is worth nothing after
    csrf.set_nonce(request, response, state.settings.is_production)
    return response


@router.post("/logout", dependencies=[Depends(csrf.check_csrf)])
async def sign_out() -> Response:
    response = RedirectResponse(f"{PATH}/login", status_code=303)
    clear_session(response)
    return response
