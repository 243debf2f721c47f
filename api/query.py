"""Query strings are checked as bodies are: a parameter the route does not declare is a 422
naming it and the accepted ones, not silently ignored (`sort=quantity` where the choice is
`by`, a misspelt filter that would otherwise widen the result).

One dependency, `known_query_only`, on every router whose GETs take query parameters; a
route that declares none is left alone (cache-busting `?_=…` on a detail stays harmless)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


def declared_query_parameters(route: APIRoute) -> tuple[str, ...]:
    """The query parameters `route` declares, its dependencies' included, by their names in
    the URL (aliases: `from`, `to`). A walk over a handful of dependants: cheaper than a
    cache would be to keep right."""
    names: dict[str, None] = {}
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop(0)
        names.update(dict.fromkeys(param.alias for param in dependant.query_params))
        pending.extend(dependant.dependencies)
    return tuple(names)


async def _reject_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    accepted = declared_query_parameters(route)
    if not accepted:
        return
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in accepted]
    if unknown:
        names = ", ".join(accepted)
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": f"unknown query parameter {name!r}; accepted: {names}",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ]
        )


known_query_only = Depends(_reject_unknown_query)
"""The router dependency: `APIRouter(..., dependencies=[known_query_only])`."""
