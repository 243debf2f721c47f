"""Envelopes, pagination and the small field types every resource shares."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, StrictInt

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
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """The error envelope."""

    success: Literal[False] = False
    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error envelopes a route may answer with."""
    descriptions = {
        400: "Malformed request",
        401: "Not signed in, or the token is invalid or expired",
        403: "Signed in, but not allowed",
        404: "Not found",
        409: "Conflicts with the current state",
        413: "Request body too large",
        422: "Invalid input",
        429: "Too many requests; see Retry-After",
        503: "A dependency is unavailable; try again",
    }
    return {
        status: {"model": ErrorEnvelope, "description": descriptions[status]}
        for status in sorted({*statuses, 422, 503})
    }


class AcceptedOut(BaseModel):
    """A command accepted before its projections caught up (Prefer: respond-async)."""

    id: str
    position: int


def command_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error envelopes a command route may answer with, and its 202 (accepted, not yet
    visible in the read tables)."""
    return {
        **error_responses(*statuses),
        202: {"model": Envelope[AcceptedOut], "description": "Accepted; not yet visible"},
    }
