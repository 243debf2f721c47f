"""The API's error codes as a person reads them: a title per code, said on the error page
above the API's own message, with the code beside it for whoever looks it up."""

from __future__ import annotations

from api.errors import ErrorCode as E

TITLES: dict[str, str] = {
    E.VALIDATION_ERROR: "Some of what was entered is not valid",
    E.UNAUTHORIZED: "You are not signed in, or the password is wrong",
    E.FORBIDDEN: "You may not do this",
    E.NOT_FOUND: "There is no such record",
    E.CONFLICT: "This clashes with the record as it now stands",
    E.INSUFFICIENT_STOCK: "There is not enough stock for this",
    E.PRICE_CHANGED: "The price has changed since",
    E.INVALID_TRANSITION: "The order's status does not allow this step",
    E.IDEMPOTENCY_KEY_REUSED: "This request was already sent with other contents",
    E.RATE_LIMITED: "Too many attempts: wait a little and try again",
    E.SERVICE_UNAVAILABLE: "The database cannot be reached just now: try again shortly",
    E.INTERNAL_ERROR: "Something went wrong on our side",
    E.PAYLOAD_TOO_LARGE: "What was sent is too large",
    E.METHOD_NOT_ALLOWED: "This page does not take that kind of request",
}


def title(code: str) -> str:
    return TITLES.get(code, "Something went wrong")
