"""Running commands and reading consistently.

Commands call the synchronous `Ledger` in a bounded thread pool (its size is the write pool's),
then, unless the client sent `Prefer: respond-async`, wait until the projections serving the
touched resource reach the command's position (read your writes). GETs honour
`X-Ledger-Consistency: N` the same way, flagging a timed-out wait with `X-Ledger-Stale: true`."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel

from api.idempotency import Command, identified, record_result
from api.schemas.common import AcceptedOut, Envelope
from api.state import ApiState, State
from ledger.application import Ledger
from ledger.commands import CommandResult
from reads import Conn

POSITION_HEADER = "X-Ledger-Position"
STALE_HEADER = "X-Ledger-Stale"
MAX_POSITION = 2**63 - 1
# The projection that serves each kind of aggregate (by id prefix): a command that touched a
# product as a side effect (an order reserving stock) waits for the catalog too.
_SERVING_PROJECTION = {"prod_": "products", "ord_": "orders", "usr_": "users"}


def respond(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """The JSON response of an envelope model."""
    return Response(
        content=model.model_dump_json(),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def respond_json(
    content: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """The JSON response of an envelope given as plain data, for the catalog reads that miss
    the read cache: it must be what the route's response model would render (datetimes as
    pydantic writes them, UTC as Z), and tests/unit/test_catalog_json.py holds it to that."""
    return Response(
        content=orjson.dumps(content, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


@dataclass(frozen=True)
class Settled:
    """A command's outcome as the response reports it."""

    result: CommandResult
    fresh: bool
    headers: dict[str, str] = field(default_factory=dict)


class Commands:
    """A route's access to the write side (a FastAPI dependency)."""

    def __init__(self, state: State, request: Request) -> None:
        self.state = state
        self.respond_async = "respond-async" in request.headers.get("prefer", "").lower()

    async def run(
        self, handle: Callable[[Ledger, Command], CommandResult], command: Command
    ) -> CommandResult:
        """`handle(ledger, command)` on the write side, under the request's command id when an
        Idempotency-Key gave it one."""
        loop = asyncio.get_running_loop()
        # Copying the context keeps the request id on the command's own log line.
        context = contextvars.copy_context()
        result = await loop.run_in_executor(
            self.state.commands, context.run, handle, self.state.ledger, identified(command)
        )
        record_result(result)
        return result

    async def settle(self, result: CommandResult, projections: Iterable[str]) -> Settled:
        """Waits (bounded) for `projections`, and those serving every aggregate the command
        touched, to reach the command's position, unless the client asked not to wait."""
        touched = {
            name
            for aggregate_id in result.touched
            for prefix, name in _SERVING_PROJECTION.items()
            if aggregate_id.startswith(prefix)
        }
        names = tuple(sorted({*projections, *touched}))
        positions = self.state.positions
        if self.respond_async:
            fresh = positions.reached(names, result.position)
        else:
            timeout = self.state.settings.ledger_consistency_timeout
            fresh = await positions.wait(names, result.position, timeout)
        headers = {POSITION_HEADER: str(result.position)}
        if not fresh and not self.respond_async:
            headers[STALE_HEADER] = "true"
        return Settled(result, fresh, headers)


async def commands(state: State, request: Request) -> Commands:
    # async: FastAPI runs a class or plain `def` dependency in a worker thread.
    return Commands(state, request)


CommandsDep = Annotated[Commands, Depends(commands)]


async def read_back(
    state: ApiState,
    settled: Settled,
    message: str,
    fetch: Callable[[Conn, str], Awaitable[dict[str, Any] | None]],
    to_model: Callable[[dict[str, Any]], BaseModel],
    status_code: int = 200,
) -> Response:
    """The touched record as its projection shows it once the command is visible there;
    otherwise 202 with the id and the position to ask for."""
    aggregate_id = settled.result.aggregate_id
    if settled.fresh:
        async with state.pool.connection() as conn:
            row = await fetch(conn, aggregate_id)
        if row is not None:
            return respond(
                Envelope(message=message, data=to_model(row)), status_code, settled.headers
            )
    accepted = AcceptedOut(id=aggregate_id, position=settled.result.position)
    return respond(Envelope(message=f"{message} (accepted)", data=accepted), 202, settled.headers)


def accepted(result: CommandResult, message: str = "Command accepted") -> Response:
    """202 with the id and the position to ask for: the answer for a command that committed
    when what follows it (the wait, the read-back) could not be done."""
    data = AcceptedOut(id=result.aggregate_id, position=result.position)
    headers = {POSITION_HEADER: str(result.position)}
    return respond(Envelope(message=message, data=data), 202, headers)


@dataclass(frozen=True)
class Consistency:
    """What a GET's consistency wait gave: headers to send back."""

    headers: dict[str, str]


def consistent_with(*projections: str) -> Callable[..., object]:
    """A dependency that honours X-Ledger-Consistency for the projections a GET reads."""

    async def wait(
        state: State,
        x_ledger_consistency: Annotated[
            int | None,
            Header(
                ge=0,
                le=MAX_POSITION,
                description="Wait until the data reflects this store position "
                "(an X-Ledger-Position from a command).",
            ),
        ] = None,
    ) -> Consistency:
        return await _wait(state, projections, x_ledger_consistency)

    return wait


async def _wait(state: ApiState, projections: tuple[str, ...], position: int | None) -> Consistency:
    if position is None:
        return Consistency({})
    timeout = state.settings.ledger_consistency_timeout
    fresh = await state.positions.wait(projections, position, timeout)
    return Consistency({} if fresh else {STALE_HEADER: "true"})
