"""The one place where failures become HTTP: domain errors, API errors, validation errors,
unknown routes and unreachable databases, each as the error envelope with a stable code.

Unexpected exceptions are turned into a 500 by the request middleware (`api.middleware`), so
that response too carries the request id and never a stack trace. Every 500 and 503 decided
here is logged (a 500 as an error with its traceback, a 503 as a warning), so no failure is
silent; the lines carry the error's type and SQLSTATE, not its message, which can quote input
values (an email in a unique-violation detail)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.domain import format_minor
from ledger.domain.errors import DomainError
from ledger.logs import get_logger

log = get_logger("ledger.api.errors")


class ErrorCode(StrEnum):
    """Every `error.code` the API answers with: the contract's codes, and the two the HTTP
    edge adds for requests no operation takes (a body over the cap, a method a path lacks)."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    PRICE_CHANGED = "PRICE_CHANGED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    RATE_LIMITED = "RATE_LIMITED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"


# The one table of codes and their statuses: the handlers answer with it and the OpenAPI
# document (api.schemas.common.error_responses) is written from it.
STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.INSUFFICIENT_STOCK: 409,
    ErrorCode.PRICE_CHANGED: 409,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.INTERNAL_ERROR: 500,
}
_CODE_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


class ApiError(Exception):
    """A failure the HTTP layer itself decides (authentication, rate limits, idempotency)."""

    def __init__(
        self,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = STATUS_BY_CODE[code]
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    if status == 422:
        details = validation_details(details, message)
    body = {"success": False, "error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def render(exc: Exception, currency: str) -> JSONResponse:
    """The error envelope for any exception the handlers know; anything else is a 500."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    if isinstance(exc, DomainError):
        status = STATUS_BY_CODE.get(exc.code, 409)
        headers = {"Retry-After": "1"} if status == 503 else None
        return error_response(
            status, exc.code, exc.message, _domain_details(exc, currency), headers
        )
    if isinstance(exc, RequestValidationError):
        return error_response(
            422, "VALIDATION_ERROR", "the request is not valid", _validation_details(exc)
        )
    if isinstance(exc, StarletteHTTPException):
        # FastAPI answers 400 for a body it cannot parse at all (invalid UTF-8): that is
        # invalid input like any other, a documented 422 VALIDATION_ERROR.
        status = 422 if exc.status_code == 400 else exc.status_code
        code = _CODE_BY_STATUS.get(status, "VALIDATION_ERROR")
        message = "no such resource" if status == 404 else str(exc.detail)
        details = [issue(("body",), message, "json_invalid")] if status == 422 else None
        return error_response(status, code, message, details, dict(exc.headers or {}))
    if isinstance(exc, psycopg.DataError):
        # A value PostgreSQL refuses (out of range, invalid text): the client's input.
        return error_response(422, "VALIDATION_ERROR", "a value is out of range or invalid")
    if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout | PersistenceError):
        log.warning("database unavailable", **_described(exc))
        return error_response(
            503,
            "SERVICE_UNAVAILABLE",
            "the database is unavailable, try again",
            headers={"Retry-After": "1"},
        )
    log.error("unexpected error", exc_info=exc, **_described(exc))
    return error_response(500, "INTERNAL_ERROR", "an unexpected error occurred")


def _described(exc: Exception) -> dict[str, str | None]:
    """What a log line says of an error: its type and, for a database error, its SQLSTATE."""
    cause = exc.__cause__ if isinstance(exc, PersistenceError) else exc
    sqlstate = cause.sqlstate if isinstance(cause, psycopg.Error) else None
    return {"error_type": type(cause).__name__, "sqlstate": sqlstate}


def _domain_details(exc: DomainError, currency: str) -> Any:
    details = exc.details
    if exc.code == "PRICE_CHANGED" and isinstance(details, dict):
        # The domain speaks minor units; clients see decimal strings.
        return {
            key: format_minor(value, currency)
            if key in {"expected", "current"} and isinstance(value, int)
            else value
            for key, value in details.items()
        }
    return details


def issue(loc: tuple[str, ...], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One entry of a 422's `details`: where (as pydantic names it), what, and its type."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def validation_details(details: Any, message: str) -> list[dict[str, Any]]:
    """Every 422's `details` in the one shape, a list of {loc, msg, type}: the list pydantic's
    errors give is kept; a domain error's {"field": name} (a body field) becomes one entry at
    ("body", name); anything else one entry at no particular place."""
    if isinstance(details, list) and all(
        isinstance(entry, dict) and {"loc", "msg", "type"} <= entry.keys() for entry in details
    ):
        return details
    if isinstance(details, dict) and isinstance(details.get("field"), str):
        return [issue(("body", *details["field"].split(".")), message)]
    return [issue((), message)]


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only location, message and type: echoing the input could echo a password.
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]


def install_error_handlers(app: FastAPI, currency: str) -> None:
    """Registers the envelope for every known kind of failure."""

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        return render(exc, currency)

    for kind in (
        ApiError,
        DomainError,
        RequestValidationError,
        StarletteHTTPException,
        psycopg.Error,
        psycopg_pool.PoolTimeout,
        PersistenceError,
    ):
        app.add_exception_handler(kind, handle)
