"""The shop's domain: aggregates, their events and their rules. Imports nothing but itself,
the standard library and the `eventsourcing` aggregate base."""

from ledger.domain.errors import (
    DomainError,
    DuplicateEmailError,
    InsufficientStockError,
    InvalidTransitionError,
    NotFoundError,
    PriceChangedError,
    ProductNotOrderableError,
    ValidationError,
)
from ledger.domain.money import Money, currency_exponent, format_minor, parse_minor
from ledger.domain.orders import Order, OrderLine, OrderStatus, ShippingAddress
from ledger.domain.products import Product, ProductStatus
from ledger.domain.users import EmailClaim, Role, User

__all__ = [
    "DomainError",
    "DuplicateEmailError",
    "EmailClaim",
    "InsufficientStockError",
    "InvalidTransitionError",
    "Money",
    "NotFoundError",
    "Order",
    "OrderLine",
    "OrderStatus",
    "PriceChangedError",
    "Product",
    "ProductNotOrderableError",
    "ProductStatus",
    "Role",
    "ShippingAddress",
    "User",
    "ValidationError",
    "currency_exponent",
    "format_minor",
    "parse_minor",
]
