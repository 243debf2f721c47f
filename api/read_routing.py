"""The read-routing middleware: which server each GET reads, said in `X-Ledger-Read-From`, and
the client's own last write carried from its command to its next read.

* Every command response that carries `X-Ledger-Position` (when a replica is configured) also
  sets the cookie `ledger_position`: the highest position the client has written, across
  every API process behind one address. A GET that sends it back is served by the replica only
  once the replica's copies of the projections it reads have reached that position (and its
  X-Ledger-Consistency, if any); otherwise by the primary, waiting there as for the header.
  A client that keeps no cookies sends X-Ledger-Consistency instead.
* Every GET answers `X-Ledger-Read-From: replica` or `primary`.
* A GET whose replica connection fails, or whose replica read outlasts
  REPLICA_DEADLINE_SECONDS, is answered by the primary instead: the client sees no error, only
  the header. Nothing was sent before the retry: the answer is held until it is known good.

The middleware is handed a callable giving the worker's replica once the lifespan opened it
(None before, and when no replica is configured)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import read_source
from api.read_source import ReadSource
from api.replica import Replica

POSITION_COOKIE = "ledger_position"
READ_FROM_HEADER = b"x-ledger-read-from"
_POSITION_HEADER = b"x-ledger-position"
_MAX_POSITION = 2**63 - 1
_READS = ("GET", "HEAD")


class ReadRouting:
    """ASGI middleware: routes GETs (see the module's docstring) and sets the position cookie."""

    def __init__(self, app: ASGIApp, replica: Callable[[], Replica | None]) -> None:
        self.app = app
        self.replica = replica

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_position = _cookie_position(scope)
        replica = self.replica()
        if scope["method"] not in _READS:
            sending = _setting_cookie(send, client_position) if replica else send
            await self.app(scope, receive, sending)
            return
        if replica is None:
            await self._serve(ReadSource(client_position, None), scope, receive, send)
        elif not await self._try(ReadSource(client_position, replica), scope, receive, send):
            await self._serve(ReadSource(client_position, None), scope, _replayed(receive), send)

    async def _try(self, source: ReadSource, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serves the GET as routed; False, with nothing sent, when the replica failed it."""
        held = _Held(send, source)
        try:
            async with asyncio.timeout(None) as deadline:
                source.deadline = deadline
                await self._serve(source, scope, receive, held.send)
        except TimeoutError:
            if held.started:
                raise
            source.replica_failed(TimeoutError("the replica did not answer in time"))
            return False
        return not held.dropped

    async def _serve(self, source: ReadSource, scope: Scope, receive: Receive, send: Send) -> None:
        token = read_source.use(source)
        try:
            await self.app(scope, receive, _naming_source(send, source))
        finally:
            read_source.reset(token)


class _Held:
    """A send that drops the answer of a request the replica failed (a 5xx), so the primary
    can answer instead, and stops the replica deadline once an answer goes out."""

    def __init__(self, send: Send, source: ReadSource) -> None:
        self._send = send
        self._source = source
        self.started = False
        self.dropped = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if self._source.failed and message["status"] >= 500:
                self.dropped = True
                return
            if self._source.deadline is not None:
                self._source.deadline.reschedule(None)
            self.started = True
        if not self.dropped:
            await self._send(message)


def _naming_source(send: Send, source: ReadSource) -> Send:
    async def naming(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append((READ_FROM_HEADER, source.name.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return naming


def _setting_cookie(send: Send, client_position: int) -> Send:
    """`send`, adding the position cookie to a response that carries a position: the highest
    of the client's and this one (an idempotent replay answers an older position)."""

    async def setting(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            for name, value in headers:
                if name == _POSITION_HEADER and value.isdigit():
                    position = max(client_position, int(value))
                    cookie = f"{POSITION_COOKIE}={position}; Path=/; HttpOnly; SameSite=Lax"
                    headers.append((b"set-cookie", cookie.encode()))
                    message = {**message, "headers": headers}
                    break
        await send(message)

    return setting


def _cookie_position(scope: Scope) -> int:
    """The position in the request's `ledger_position` cookie; 0 when absent or not one."""
    for name, value in scope["headers"]:
        if name != b"cookie" or POSITION_COOKIE.encode() not in value:
            continue
        cookies: SimpleCookie = SimpleCookie()
        with contextlib.suppress(CookieError, UnicodeDecodeError):
            cookies.load(value.decode("latin-1"))
        morsel = cookies.get(POSITION_COOKIE)
        if morsel is not None and morsel.value.isdigit() and len(morsel.value) < 20:
            return min(int(morsel.value), _MAX_POSITION)
    return 0


def _replayed(receive: Receive) -> Receive:
    """`receive` for asking a GET again: its (empty) body once more, then the client's own."""
    replayed = False

    async def receiving() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return receiving
