"""Rendering the back office's pages: one Jinja environment over the package's templates,
with autoescaping on and undefined names an error, and `page()`, which renders a template for
a request with what every page shows (the admin, the CSRF token, a notice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from api.admin import csrf
from api.admin.notices import notice
from api.admin.session import Admin
from api.state import ApiState
from ledger.domain import format_minor

_ENV = Environment(
    loader=PackageLoader("api.admin", "templates"),
    autoescape=select_autoescape(["html", "svg"], default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


_ENV.filters["when"] = _when
_ENV.filters["money"] = format_minor


def page(
    request: Request,
    state: ApiState,
    template: str,
    admin: Admin | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """`template` rendered for this request, with the CSRF cookie set when it is new."""
    token = csrf.token_for(state.settings.secret_key, csrf.nonce(request))
    html = _ENV.get_template(template).render(
        admin=admin,
        csrf_field=csrf.FIELD,
        csrf_token=token,
        notice=notice(request.query_params.get("done")),
        currency=state.currency,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    csrf.set_nonce(request, response, state.settings.is_production)
    return response
