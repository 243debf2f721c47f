"""Cross-site request forgery protection for every POST of the back office: a signed
double-submit token.

Each browser gets a random nonce in an HttpOnly cookie; every form carries the HMAC of that
nonce under the server's secret. A POST passes only when the form's token is the HMAC of the
cookie it came with: another site can make the browser send the cookie, but can neither read
it nor compute its HMAC. Signing in gives the browser a new nonce, so a nonce planted before
sign-in is worth nothing after it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request, Response

from api.errors import ApiError
from api.state import State

COOKIE = "ledger_admin_csrf"
FIELD = "csrf"
PATH = "/admin"
_NONCE_BYTES = 32


def token_for(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"admin-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def nonce(request: Request) -> str:
    """This browser's nonce: its cookie's, or a new one the page's response will set."""
    known = request.cookies.get(COOKIE)
    if known:
        return known
    made: str | None = getattr(request.state, "csrf_nonce", None)
    if made is None:
        made = request.state.csrf_nonce = secrets.token_urlsafe(_NONCE_BYTES)
    return made


def new_nonce(request: Request) -> str:
    """A fresh nonce for this browser (at sign-in), which the response must set."""
    made = request.state.csrf_nonce = secrets.token_urlsafe(_NONCE_BYTES)
    return made


def set_nonce(request: Request, response: Response, secure: bool) -> None:
    """Sets the nonce cookie when this request made one."""
    made: str | None = getattr(request.state, "csrf_nonce", None)
    if made is not None:
        response.set_cookie(COOKIE, made, path=PATH, httponly=True, samesite="lax", secure=secure)


async def check_csrf(request: Request, state: State) -> None:
    """Refuses a POST whose form token is not the HMAC of the browser's nonce."""
    form = await request.form()
    sent = form.get(FIELD)
    cookie = request.cookies.get(COOKIE)
    if not isinstance(sent, str) or not cookie:
        raise _refused()
    if not hmac.compare_digest(sent, token_for(state.settings.secret_key, cookie)):
        raise _refused()


def _refused() -> ApiError:
    return ApiError(
        "FORBIDDEN",
        "this form is out of date or was sent from another site: reload the page and try again",
    )


CsrfChecked = Annotated[None, Depends(check_csrf)]
