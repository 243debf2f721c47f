"""Every error the domain and the application raise, in one tree.

Each carries a stable `code`, which the API maps to an HTTP status in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every business-rule failure."""

    code = "CONFLICT"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationError(DomainError):
    """A command's input breaks a rule that no schema can express."""

    code = "VALIDATION_ERROR"


class NotFoundError(DomainError):
    """The command names an aggregate that does not exist."""

    code = "NOT_FOUND"


class ConflictError(DomainError):
    """The command conflicts with the current state (for example an id already taken)."""

    code = "CONFLICT"


class DuplicateEmailError(ConflictError):
    """Another user already holds this email."""


class InsufficientStockError(DomainError):
    """Not enough available stock for a reservation or an adjustment."""

    code = "INSUFFICIENT_STOCK"


class PriceChangedError(DomainError):
    """The client's expected price differs from the catalog's."""

    code = "PRICE_CHANGED"


class ProductNotOrderableError(ConflictError):
    """The product is discontinued."""


class InvalidTransitionError(DomainError):
    """The order's lifecycle does not allow this transition from its current status."""

    code = "INVALID_TRANSITION"


class ConcurrencyError(DomainError):
    """Optimistic-concurrency conflicts persisted after the bounded number of retries."""

    code = "CONFLICT"


class UnavailableError(DomainError):
    """The event store cannot be reached or did not answer in time."""

    code = "SERVICE_UNAVAILABLE"
