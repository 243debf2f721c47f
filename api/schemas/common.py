"""Envelopes, pagination and the small field types every resource shares."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from api.errors import STATUS_BY_CODE, ErrorCode

T = TypeVar("T")


def _storable(value: str) -> str:
    """PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded as UTF-8."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
"""Any string the API accepts: storable as PostgreSQL text."""

Amount = Annotated[
    Annotated[str, Field(max_length=40), AfterValidator(_storable)] | StrictInt | StrictFloat,
    Field(description='A decimal amount, as a number or a string: 29.99 or "29.99".'),
]


class Model(BaseModel):
    """Base of request models: unknown fields are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class PageMeta(BaseModel):
    page: int
    page_size: int
    total: int


class Envelope(BaseModel, Generic[T]):
    """The success envelope."""

    success: Literal[True] = True
    message: str
    data: T


class ListEnvelope(BaseModel, Generic[T]):
    """The success envelope of a list, with its page."""

    success: Literal[True] = True
    message: str
    data: list[T]
    meta: PageMeta


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """The error envelope."""

    success: Literal[False] = False
    error: ErrorBody


class ValidationIssue(BaseModel):
    """One thing wrong with a request: where (pydantic's location, e.g. ["body", "items", "0",
    "price"] or ["query", "min_price"]), what, and its kind."""

    loc: list[str]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    code: ErrorCode
    message: str
    details: list[ValidationIssue]


class ValidationErrorEnvelope(BaseModel):
    """The error envelope of every 422: `details` is always a list of issues."""

    success: Literal[False] = False
    error: ValidationErrorBody


class AcceptedOut(BaseModel):
    """A command stored before its projections caught up, or whose client sent
    `Prefer: respond-async`."""

    id: str
    position: int


Responses = dict[int | str, dict[str, Any]]

# What each error status means, for its OpenAPI description; the codes each status carries come
# from api.errors.STATUS_BY_CODE.
_STATUS_DESCRIPTIONS = {
    401: "Not signed in, or the token is invalid or expired",
    403: "Signed in, but not allowed",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Invalid input",
    429: "Too many requests; see Retry-After",
    500: "An unexpected error (never with a stack trace)",
    503: "A dependency is unavailable; try again (see Retry-After)",
}
# One example message per code, for the document's examples.
_EXAMPLE_MESSAGES = {
    ErrorCode.VALIDATION_ERROR: "the request is not valid",
    ErrorCode.UNAUTHORIZED: "not signed in",
    ErrorCode.FORBIDDEN: "this needs an admin",
    ErrorCode.NOT_FOUND: "order ord_3kq9xw not found",
    ErrorCode.CONFLICT: "product prod_1 already exists",
    ErrorCode.INSUFFICIENT_STOCK: "only 2 of prod_1 available",
    ErrorCode.PRICE_CHANGED: "the price of prod_1 changed",
    ErrorCode.INVALID_TRANSITION: "cannot ship an order that is pending",
    ErrorCode.IDEMPOTENCY_KEY_REUSED: "this Idempotency-Key was already used with a different "
    "request",
    ErrorCode.RATE_LIMITED: "too many attempts, try again later",
    ErrorCode.SERVICE_UNAVAILABLE: "the database is unavailable, try again",
    ErrorCode.INTERNAL_ERROR: "an unexpected error occurred",
    ErrorCode.PAYLOAD_TOO_LARGE: "the request body is too large",
    ErrorCode.METHOD_NOT_ALLOWED: "Method Not Allowed",
}
_EXAMPLE_DETAILS: dict[ErrorCode, Any] = {
    ErrorCode.VALIDATION_ERROR: [
        {"loc": ["body", "items", "0", "price"], "msg": "USD amounts have at most 2 decimals",
         "type": "value_error"}
    ],
    ErrorCode.IDEMPOTENCY_KEY_REUSED: [
        {"loc": [], "msg": "this Idempotency-Key was already used with a different request",
         "type": "value_error"}
    ],
    ErrorCode.PRICE_CHANGED: {"product_id": "prod_1", "expected": "24.99", "current": "29.99"},
}  # fmt: skip
# Every operation may answer these: invalid input (a header, a query, a body), an unreachable
# database, and the unexpected.
_ALWAYS = (ErrorCode.VALIDATION_ERROR, ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.INTERNAL_ERROR)

RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
LEDGER_POSITION = {
    "description": "The store position of the command's last event: send it as "
    "X-Ledger-Consistency on a GET to read this write.",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
LEDGER_STALE = {
    "description": "Present (true) when the projections had not reached the position asked for "
    "(or, on a command, the command's own) within the bounded wait: the data may not show it.",
    "schema": {"type": "string", "enum": ["true"]},
}
IDEMPOTENT_REPLAYED = {
    "description": "Present (true) when this is the stored first response to the same "
    "Idempotency-Key, user and body; the command had no second effect.",
    "schema": {"type": "string", "enum": ["true"]},
}
PREFER_PARAMETER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "`respond-async`: answer 202 with the id and position as soon as the command "
    "is stored, without waiting for the projections (then read it back with "
    "X-Ledger-Consistency).",
    "schema": {"type": "string", "examples": ["respond-async"]},
}
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the command happen once: the same key, user and body within 24 h "
    "answers the first response again (Idempotent-Replayed: true); the same key with another "
    "body is a 422 IDEMPOTENCY_KEY_REUSED.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$",
               "examples": ["8b1f0c2e-4d5a-4f7e-9a3b-2c6d8e0f1a2b"]},
}  # fmt: skip


def _error_example(code: ErrorCode) -> dict[str, Any]:
    return {
        "summary": code.value,
        "value": {
            "success": False,
            "error": {
                "code": code.value,
                "message": _EXAMPLE_MESSAGES[code],
                "details": _EXAMPLE_DETAILS.get(code),
            },
        },
    }


def error_responses(*codes: ErrorCode) -> Responses:
    """OpenAPI documentation of the error envelopes an operation may answer with: `codes`, and
    those every operation may (VALIDATION_ERROR, SERVICE_UNAVAILABLE, INTERNAL_ERROR), grouped
    by their status in api.errors.STATUS_BY_CODE, each status naming its codes and showing an
    example of each."""
    by_status: dict[int, list[ErrorCode]] = {}
    for code in sorted({*codes, *_ALWAYS}):
        by_status.setdefault(STATUS_BY_CODE[code], []).append(code)
    responses: Responses = {}
    for status, listed in sorted(by_status.items()):
        entry: dict[str, Any] = {
            "model": ValidationErrorEnvelope if status == 422 else ErrorEnvelope,
            "description": f"{_STATUS_DESCRIPTIONS[status]}: {', '.join(listed)}",
            "content": {
                "application/json": {"examples": {c.value: _error_example(c) for c in listed}}
            },
        }
        if status in {429, 503}:
            entry["headers"] = {"Retry-After": RETRY_AFTER}
        responses[status] = entry
    return responses


def read_responses(*codes: ErrorCode) -> Responses:
    """The documentation of a GET that honours X-Ledger-Consistency: its errors, and the 200's
    X-Ledger-Stale."""
    return {200: {"headers": {"X-Ledger-Stale": LEDGER_STALE}}, **error_responses(*codes)}


def command_docs(*codes: ErrorCode, success: int = 200, idempotent: bool = True) -> dict[str, Any]:
    """The `responses` and `openapi_extra` of a command route: its errors (a body too large, and
    a reused Idempotency-Key when it takes one, included), the success and the 202 (accepted,
    not yet visible, or asked for with Prefer: respond-async) with their headers, and the
    request headers Prefer and, when `idempotent`, Idempotency-Key."""
    extra: tuple[ErrorCode, ...] = (ErrorCode.PAYLOAD_TOO_LARGE,)
    if idempotent:
        extra += (ErrorCode.IDEMPOTENCY_KEY_REUSED,)
    headers: dict[str, Any] = {"X-Ledger-Position": LEDGER_POSITION, "X-Ledger-Stale": LEDGER_STALE}
    if idempotent:
        headers["Idempotent-Replayed"] = IDEMPOTENT_REPLAYED
    accepted = {
        "model": Envelope[AcceptedOut],
        "description": "Accepted: stored, but not (yet) visible in the read tables, or the "
        "client sent Prefer: respond-async",
        "headers": headers,
    }
    parameters = [PREFER_PARAMETER]
    if idempotent:
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
    return {
        "responses": {
            success: {"headers": headers},
            202: accepted,
            **error_responses(*codes, *extra),
        },
        "openapi_extra": {"parameters": parameters},
    }
