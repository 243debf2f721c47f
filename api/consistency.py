"""Reading consistently: a GET must see store position N, the highest of its
`X-Ledger-Consistency: N` and the client's own last write (the position cookie,
api.read_routing). It reads the replica when the replica's copies of the projections it reads
have reached N; otherwise the primary, waiting (bounded) until they reach N there, and
flagging a timed-out wait with `X-Ledger-Stale: true`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Header

from api import read_source
from api.responses import STALE_HEADER
from api.state import ApiState, State

MAX_POSITION = 2**63 - 1


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


async def _wait(state: ApiState, projections: tuple[str, ...], asked: int | None) -> Consistency:
    source = read_source.current()
    position = max(asked or 0, source.client_position if source else 0)
    if source is not None and source.choose(projections, position):
        return Consistency({})
    if position == 0:
        return Consistency({})
    timeout = state.settings.ledger_consistency_timeout
    fresh = await state.positions.wait(projections, position, timeout)
    return Consistency({} if fresh else {STALE_HEADER: "true"})
