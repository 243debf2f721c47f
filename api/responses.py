"""The JSON responses routes send: envelopes, the catalog's plain-data envelopes, and the 202
of a command accepted but not (yet) read back."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel

from api.schemas.common import AcceptedOut, Envelope
from ledger.commands import CommandResult

POSITION_HEADER = "X-Ledger-Position"
STALE_HEADER = "X-Ledger-Stale"


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


def accepted(
    result: CommandResult,
    message: str = "Command accepted",
    headers: dict[str, str] | None = None,
) -> Response:
    """202 with the id and the position to ask for: the answer for a command that committed
    when what follows it (the wait, the read-back) could not be done or not yet shows it."""
    data = AcceptedOut(id=result.aggregate_id, position=result.position)
    headers = headers if headers is not None else {POSITION_HEADER: str(result.position)}
    return respond(Envelope(message=message, data=data), 202, headers)
