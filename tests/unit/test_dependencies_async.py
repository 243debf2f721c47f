"""Every dependency of every route is a coroutine: FastAPI runs a plain `def` dependency (or a
class) in a worker thread, a thread hand-off per request that showed in the API's profiles."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.app import create_app
from tests.data import make_settings


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _is_async(call: Any) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - an instance with an async __call__
    )


def test_no_route_has_a_synchronous_dependency() -> None:
    app = create_app(make_settings(database_url="postgresql://unused@localhost/unused"))
    sync = {
        f"{route.path}: {getattr(call, '__name__', type(call).__name__)}"
        for route in app.routes
        if isinstance(route, APIRoute)
        for call in _calls(route.dependant)
        if not _is_async(call)
    }
    assert not sync, sorted(sync)
