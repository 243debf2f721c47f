"""`Prefer: respond-async` is always answered with the 202 {id, position}, even when the
projection happens to have caught up already (it used to answer with the record then)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, cast

from pydantic import BaseModel

from api.state import ApiState
from api.writes import Commands, ReadBack
from ledger.commands import CommandResult


class _Caught:
    """Positions that have already reached everything: the fast-projection case."""

    def reached(self, names: Iterable[str], position: int) -> bool:
        return True

    async def wait(self, names: Iterable[str], position: int, timeout: float) -> bool:  # noqa: ASYNC109
        return True


class _Pool:
    @asynccontextmanager
    async def connection(self) -> AsyncIterator[object]:
        yield object()


class _Record(BaseModel):
    id: str
    name: str


async def _fetch(_: object, aggregate_id: str) -> dict[str, Any] | None:
    return {"id": aggregate_id, "name": "Merino Wool Crew Sweater"}


async def _answer(prefer: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    with ThreadPoolExecutor(1) as pool:
        state = SimpleNamespace(
            commands=pool,
            ledger=object(),
            positions=_Caught(),
            settings=SimpleNamespace(ledger_consistency_timeout=0.1),
            pool=_Pool(),
        )
        request = SimpleNamespace(headers={"prefer": prefer} if prefer else {})
        commands = Commands(cast(ApiState, state), cast(Any, request), cast(Any, None))
        read = ReadBack(("products",), _fetch, lambda row: _Record(**row))
        response = await commands.write(
            lambda _ledger, _command: CommandResult("prod_1", 42), cast(Any, None), read, "Done"
        )
    return response.status_code, json.loads(bytes(response.body)), dict(response.headers)


def test_respond_async_answers_202_even_when_the_projection_is_there() -> None:
    status, body, headers = asyncio.run(_answer("respond-async"))
    assert status == 202
    assert body["data"] == {"id": "prod_1", "position": 42}
    assert headers["x-ledger-position"] == "42"


def test_without_prefer_the_record_is_read_back() -> None:
    status, body, _ = asyncio.run(_answer(None))
    assert status == 200
    assert body["data"] == {"id": "prod_1", "name": "Merino Wool Crew Sweater"}
