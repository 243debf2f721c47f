"""Running commands: the `Commands` dependency and the read-back of what a command touched.

Commands call the synchronous `Ledger` in a bounded thread pool (its size is the write pool's),
then, unless the client sent `Prefer: respond-async`, wait until the projections serving the
touched resource reach the command's position (read your writes), and answer with the record
as its projection shows it, or 202 with the id and the position to ask for. With
`Prefer: respond-async` the answer is always that 202 (RFC 7240: the server processes the
request asynchronously), however fast the projection happened to be."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel

from api.idempotency import Command, Idempotency, Idempotent, identified, record_result
from api.responses import POSITION_HEADER, STALE_HEADER, accepted, respond
from api.schemas.common import Envelope
from api.state import ApiState, State
from ledger.application import Ledger
from ledger.commands import CommandResult
from ledger.contract import ID_SEPARATOR, SERVING_PROJECTION
from reads import Conn


@dataclass(frozen=True)
class Settled:
    """A command's outcome as the response reports it."""

    result: CommandResult
    fresh: bool
    headers: dict[str, str] = field(default_factory=dict)
    # The client sent `Prefer: respond-async`: the answer is the 202, whatever the timing.
    asynchronous: bool = False


@dataclass(frozen=True)
class ReadBack:
    """How a command's response shows the record it touched: the projections it waits for, the
    read of the record by id, and the record's response model."""

    projections: tuple[str, ...]
    fetch: Callable[[Conn, str], Awaitable[dict[str, Any] | None]]
    to_model: Callable[[dict[str, Any]], BaseModel]


class Commands:
    """A route's access to the write side (a FastAPI dependency)."""

    def __init__(self, state: State, request: Request, once: Idempotency) -> None:
        self.state = state
        self.respond_async = "respond-async" in request.headers.get("prefer", "").lower()
        self.once = once

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
            if (name := SERVING_PROJECTION.get(aggregate_id.partition(ID_SEPARATOR)[0]))
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
        return Settled(result, fresh, headers, self.respond_async)

    async def write(
        self,
        handle: Callable[[Ledger, Command], CommandResult],
        command: Command,
        read: ReadBack,
        message: str,
        status_code: int = 200,
    ) -> Response:
        """Runs the command, waits for its projections, and answers with the record it
        touched, read back."""
        result = await self.run(handle, command)
        settled = await self.settle(result, read.projections)
        return await read_back(self.state, settled, message, read.fetch, read.to_model, status_code)

    async def write_once(
        self,
        scope: str,
        handle: Callable[[Ledger, Command], CommandResult],
        command: Command,
        read: ReadBack,
        message: str,
        status_code: int = 200,
    ) -> Response:
        """`write`, once per Idempotency-Key within the caller's `scope` (api.idempotency)."""
        write = partial(self.write, handle, command, read, message, status_code)
        return await self.once(scope, write)


async def commands(state: State, request: Request, once: Idempotent) -> Commands:
    # async: FastAPI runs a class or plain `def` dependency in a worker thread.
    return Commands(state, request, once)


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
    otherwise, and always when the client asked not to wait (`Prefer: respond-async`), 202
    with the id and the position to ask for: one shape per request, never one by timing."""
    aggregate_id = settled.result.aggregate_id
    if settled.fresh and not settled.asynchronous:
        async with state.pool.connection() as conn:
            row = await fetch(conn, aggregate_id)
        if row is not None:
            return respond(
                Envelope(message=message, data=to_model(row)), status_code, settled.headers
            )
    return accepted(settled.result, f"{message} (accepted)", settled.headers)
