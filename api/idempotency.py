"""Idempotency-Key for command POSTs: the same key, caller and body within 24 h replays the
first response and has no second effect, even when the two requests race or a process dies.

The key is claimed with one INSERT ... ON CONFLICT before the command runs, so exactly one
request runs it. The claim is a lease (`lease_until`), renewed while the request runs: a
process killed mid-command stops renewing, and within LEASE_SECONDS a retry on any process
takes the key over instead of being told "still processing" for 24 h. A concurrent duplicate
waits (bounded) for the winner's stored response.

The command runs under a command id derived from the claim (scope, key and the time the key
was first claimed; a takeover keeps that time). When the dead process had committed, the
takeover's run finds that id in the store and answers the first result: no second effect.

Once the command has a result, the key stores a response whatever happens after: a failure in
the read-your-writes wait or the read-back answers (and stores) 202 with the id and position,
because a committed command must never be answered as failed. Only a failure before the
command committed releases the claim, so the retry runs it.

The request is identified by an HMAC with the server's secret over the method, the path and
the canonical JSON of the body (re-indenting is the same request) with secret fields removed:
the table holds nothing from which a password or token can be recovered.

A route takes the `Idempotent` dependency (or `Commands.write_once`, which uses it) and awaits
`once(scope, execute)`; the table's statements are api.idempotency_store's."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import structlog
from fastapi import Depends, Request, Response

from api import idempotency_store as store
from api.errors import ApiError, render
from api.responses import accepted
from api.state import ApiState, State
from ledger.commands import CommandResult
from ledger.domain.errors import DomainError
from reads import ReadPool

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

HEADER = "Idempotency-Key"
REPLAY_WAIT_SECONDS = 15.0
# A claim lapses this long after its last renewal. It is renewed every LEASE_SECONDS / 3
# while the request runs, so only a dead (or wedged) process lets it lapse.
LEASE_SECONDS = 30.0
_POLL_SECONDS = 0.05
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
# Headers that are part of the first response and must come back with it.
_KEPT_HEADERS = ("x-ledger-position", "x-ledger-stale", "location", "content-type")
# Body fields never hashed: they are secrets, and the key identifies the request without them.
SECRET_FIELDS = frozenset({"password", "new_password", "current_password", "refresh_token"})

log = structlog.get_logger(__name__)


@dataclass
class Attempt:
    """One request's run of a command: the command id it runs under (None: the ledger picks
    one), and the result once the write side returned it."""

    command_id: str | None = None
    result: CommandResult | None = None


_ATTEMPT: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar(
    "idempotency_attempt", default=None
)


Command = TypeVar("Command", bound="DataclassInstance")


def identified(command: Command) -> Command:
    """The command under the request's command id, when an Idempotency-Key gave it one."""
    attempt = _ATTEMPT.get()
    if attempt is None or attempt.command_id is None:
        return command
    return replace(command, command_id=attempt.command_id)


def record_result(result: CommandResult) -> None:
    """Called by the command runner as soon as the write side returned: from here on the
    request's answer is a success (at worst 202), whatever fails later."""
    attempt = _ATTEMPT.get()
    if attempt is not None:
        attempt.result = result


def canonical_body(body: bytes) -> bytes:
    """The body as canonical JSON (sorted keys, no whitespace) without secret fields; a body
    that is not JSON is taken as it is (the route rejects it before the command runs)."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return body
    return orjson.dumps(_without_secrets(data), option=orjson.OPT_SORT_KEYS)


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def request_hash(secret: str, method: str, path: str, body: bytes) -> str:
    """A keyed hash of the request: without the server's secret it can't be checked against
    guesses, and secret fields are not in it at all."""
    return _mac(secret, method.encode(), path.encode(), canonical_body(body))


def command_id(secret: str, scope: str, key: str, claimed_at: datetime) -> str:
    """The id the key's command runs under: the same for every run of one claim."""
    parts = (scope.encode(), key.encode(), claimed_at.isoformat().encode())
    return f"idem_{_mac(secret, *parts)[:40]}"


def _mac(secret: str, *parts: bytes) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(8, "big") + part)
    return mac.hexdigest()


class Idempotency:
    """A command route's Idempotency-Key (a FastAPI dependency): `await once(scope, execute)`
    runs `execute` once per (scope, key); without the header it just runs it. Either way a
    command that committed is answered as accepted, never as failed."""

    def __init__(self, request: Request, state: ApiState) -> None:
        self._request = request
        self._pool = state.pool
        self._secret = state.settings.secret_key
        self._currency = state.settings.ledger_currency

    async def __call__(self, scope: str, execute: Callable[[], Awaitable[Response]]) -> Response:
        request, pool, currency = self._request, self._pool, self._currency
        key = request.headers.get(HEADER)
        if key is None:
            return await _attempt(execute, currency, Attempt())
        if not _KEY.match(key):
            raise ApiError(
                "VALIDATION_ERROR", f"{HEADER} must be 1 to 200 visible ASCII characters"
            )
        digest = request_hash(self._secret, request.method, request.url.path, await request.body())

        deadline = time.monotonic() + REPLAY_WAIT_SECONDS
        while (claimed_at := await store.claim(pool, scope, key, digest, LEASE_SECONDS)) is None:
            replay = await _stored(pool, scope, key, digest)
            if replay is not None:
                return replay
            if time.monotonic() >= deadline:
                raise ApiError("CONFLICT", "a request with this key is still being processed")
            await asyncio.sleep(_POLL_SECONDS)

        attempt = Attempt(command_id(self._secret, scope, key, claimed_at))
        renewing = asyncio.create_task(_renew(pool, scope, key), name="idempotency-lease")
        try:
            response = await _attempt(
                execute, currency, attempt, on_uncommitted=_release(pool, scope, key)
            )
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        if response.status_code >= 500:
            # Only a failure before the commit gets here (see _attempt): let a retry run it.
            await _release(pool, scope, key)()
            return response
        headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
        await store.complete(pool, scope, key, response.status_code, bytes(response.body), headers)
        return response


async def idempotency(request: Request, state: State) -> Idempotency:
    # async: FastAPI runs a class or plain `def` dependency in a worker thread.
    return Idempotency(request, state)


Idempotent = Annotated[Idempotency, Depends(idempotency)]


async def _attempt(
    execute: Callable[[], Awaitable[Response]],
    currency: str,
    attempt: Attempt,
    on_uncommitted: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """`execute`'s response; once the command returned a result, a failure after it (or a 5xx
    it rendered) becomes 202 accepted, the answer the client can act on."""
    token = _ATTEMPT.set(attempt)
    try:
        try:
            response = await execute()
        except (DomainError, ApiError) as exc:
            response = render(exc, currency)
    except Exception:
        if attempt.result is None:
            if on_uncommitted is not None:
                await on_uncommitted()
            raise
        log.exception("command committed; its read-back failed", id=attempt.result.aggregate_id)
        return accepted(attempt.result)
    finally:
        _ATTEMPT.reset(token)
    if response.status_code >= 500 and attempt.result is not None:
        return accepted(attempt.result)
    return response


async def _renew(pool: ReadPool, scope: str, key: str) -> None:
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        try:
            await store.renew(pool, scope, key, LEASE_SECONDS)
        except Exception:  # a missed renewal only shortens the lease
            log.warning("idempotency lease renewal failed", scope=scope)


def _release(pool: ReadPool, scope: str, key: str) -> Callable[[], Awaitable[None]]:
    async def release() -> None:
        try:
            await store.release(pool, scope, key)
        except Exception:  # the lease lapses on its own; keep the first error
            log.warning("idempotency claim release failed; its lease will lapse", scope=scope)

    return release


async def _stored(pool: ReadPool, scope: str, key: str, digest: str) -> Response | None:
    """The stored response of the key, or None while its command runs (or was released)."""
    row = await store.stored(pool, scope, key)
    if row is None:
        return None
    if not hmac.compare_digest(row["request_hash"], digest):
        raise ApiError(
            "IDEMPOTENCY_KEY_REUSED", f"this {HEADER} was already used with a different request"
        )
    if row["status_code"] is None:
        return None
    return _stored_response(row)


def _stored_response(row: dict[str, Any]) -> Response:
    headers = dict(row["headers"] or {})
    media_type = headers.pop("content-type", "application/json")
    headers["Idempotent-Replayed"] = "true"
    return Response(
        content=bytes(row["body"] or b""),
        status_code=int(row["status_code"]),
        headers=headers,
        media_type=media_type,
    )
