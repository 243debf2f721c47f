"""How the back office answers a failure: a page, not the API's JSON envelope.

Every admin route is an `AdminRoute`: whatever its handler raises goes through the API's one
error mapping (api.errors.render), so a page fails with the same status and code as the API
would, and is shown as a person reads it (api.admin.words). A request without a valid session
is sent to the sign-in page instead."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from api.admin.pages import page
from api.admin.session import SignInRequiredError
from api.admin.words import title
from api.errors import render
from api.state import ApiState

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class AdminRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequiredError:
                return sign_in_first(request)
            except Exception as exc:  # every failure becomes a page; render() logs the unknown
                return failure_page(request, exc)

        return handle


def sign_in_first(request: Request) -> Response:
    back = request.url.path if request.method == "GET" else "/admin"
    return RedirectResponse(f"/admin/login?next={quote(back)}", status_code=303)


def failure_page(request: Request, exc: Exception) -> Response:
    state: ApiState = request.app.state.api
    answer = render(exc, state.currency)
    error = orjson.loads(answer.body)["error"]
    details = error.get("details")
    problems = [
        {"where": " > ".join(str(p) for p in d.get("loc", [])[1:]), "what": d.get("msg", "")}
        for d in details or []
        if isinstance(d, dict) and "msg" in d
    ]
    headers = {k: v for k, v in answer.headers.items() if k.lower() == "retry-after"}
    referer = request.headers.get("referer", "")
    back = referer if _same_console(request, referer) else "/admin"
    return page(
        request, state, "failure.html", None, answer.status_code, headers,
        title=title(error["code"]), code=error["code"], message=error["message"],
        problems=problems, back=back,
    )  # fmt: skip


def _same_console(request: Request, url: str) -> bool:
    """Whether `url` is a page of this console (the only place the error page links back to)."""
    origin = f"{request.url.scheme}://{request.url.netloc}/admin"
    return url == origin or url.startswith(origin + "/") or url.startswith(origin + "?")
