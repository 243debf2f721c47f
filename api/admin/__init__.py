"""/admin: the back office, server-rendered pages for the shop's admins (issue #18).

Every page reads the projections, as every GET of the API does; every action runs the API's
own command (api.writes.Commands) after the session (api.admin.session) and CSRF
(api.admin.csrf) checks. The pages are not part of the API's OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.admin import catalog, customers, history, operations, orders, reports, sign_in
from api.admin.session import PATH

router = APIRouter(include_in_schema=False)


@router.get(PATH)
async def start() -> RedirectResponse:
    return RedirectResponse(f"{PATH}/orders", status_code=303)


for _section in (sign_in, catalog, orders, customers, operations, reports, history):
    router.include_router(_section.router)


def install(app: FastAPI) -> None:
    """The console's pages, and its style sheet and script from the package."""
    app.include_router(router)
    app.mount(f"{PATH}/static", StaticFiles(packages=[("api.admin", "static")]), name="admin")
