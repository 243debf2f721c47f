"""The back office's projections: where each stands (position, lag, state, lease holder,
dead letters), the parked events of one with a retry, and a rebuild started from the page,
its progress read live from the database (any API worker can answer the page's polling).

Retry and rebuild are the CLI's own operations (projections.dead_letters.retry,
projections.rebuild.rebuild): they are not commands on the ledger but on its read side."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Request, Response

from api.admin import actions, csrf
from api.admin.failures import AdminRoute
from api.admin.pages import page
from api.admin.session import PATH, SignedIn
from api.errors import ApiError
from api.responses import respond_json
from api.state import State
from ledger.logs import get_logger
from projections.dead_letters import list_dead_letters, retry
from projections.rebuild import RebuildError, exclusive, rebuild
from projections.registry import PROJECTIONS
from projections.status import read_status_async

router = APIRouter(prefix=f"{PATH}/projections", route_class=AdminRoute, include_in_schema=False)
ProjectionName = Annotated[str, Path(max_length=63, pattern=r"^[a-z_]+$")]
log = get_logger("ledger.admin")


def _known(name: str) -> str:
    if name not in PROJECTIONS:
        raise ApiError("NOT_FOUND", f"there is no projection {name!r}")
    return name


@router.get("")
async def projections(request: Request, state: State, admin: SignedIn) -> Response:
    async with state.pool.connection() as conn:
        rows = await read_status_async(conn)
    return page(request, state, "projections.html", admin, projections=rows)


@router.get("/status.json")
async def status(state: State, _: SignedIn) -> Response:
    """The figures of the projections page, for its live progress."""
    async with state.pool.connection() as conn:
        rows = await read_status_async(conn)
    return respond_json({"projections": [_live(row) for row in rows]})


def _live(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "position", "head", "lag_events", "state", "dead_letters", "lease",
            "rebuild_position", "rebuild_target")  # fmt: skip
    return {k: row[k] for k in keys}


@router.get("/{name}")
async def projection(
    name: ProjectionName, request: Request, state: State, admin: SignedIn
) -> Response:
    _known(name)
    async with state.pool.connection() as conn:
        rows = [r for r in await read_status_async(conn) if r["name"] == name]
    parked = await asyncio.to_thread(_dead_letters, state.database_url, name)
    return page(request, state, "projection.html", admin, projection=rows[0], dead_letters=parked)


def _dead_letters(url: str, name: str) -> list[Any]:
    with psycopg.connect(url) as conn:
        return list_dead_letters(conn, name)


@router.post("/{name}/retry", dependencies=[Depends(csrf.check_csrf)])
async def retry_dead_letters(name: ProjectionName, state: State, _: SignedIn) -> Response:
    projection = PROJECTIONS[_known(name)]()
    result = await asyncio.to_thread(retry, state.database_url, projection)
    log.info("dead letters retried", projection=name, applied=result.applied,
             still_parked=result.still_parked)  # fmt: skip
    return actions.done(f"{PATH}/projections/{name}", "dead-letters-retried")


@router.post("/{name}/rebuild", dependencies=[Depends(csrf.check_csrf)])
async def start_rebuild(name: ProjectionName, state: State, admin: SignedIn) -> Response:
    """Takes the rebuild lock here (a rebuild already running anywhere is refused on the
    page), then rebuilds in a thread of this worker; the page follows its progress."""
    projection = PROJECTIONS[_known(name)]()
    held = exclusive(state.database_url, [name])
    try:
        lock = await asyncio.to_thread(held.__enter__)
    except RebuildError as exc:
        raise ApiError("CONFLICT", str(exc)) from None

    def run() -> None:
        try:
            result = rebuild(state.database_url, projection, lock=lock)
            log.info("rebuild done", projection=name, events=result.events,
                     seconds=round(result.seconds, 2), started_by=admin.user_id)  # fmt: skip
        except Exception as exc:  # the thread's end: the failure is logged, the page shows state
            log.error("rebuild failed", projection=name, error=str(exc))
        finally:
            held.__exit__(None, None, None)

    threading.Thread(target=run, name=f"rebuild-{name}", daemon=True).start()
    log.info("rebuild started", projection=name, started_by=admin.user_id)
    return actions.done(f"{PATH}/projections/{name}", "rebuild-started")
