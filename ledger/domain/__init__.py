"""The shop's domain: aggregates, their events and their rules. Imports nothing but itself,
the standard library and the `eventsourcing` aggregate base."""

from ledger.domain.checkout import CartItem, checkout
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
from ledger.domain.stock import StockAction, StockMove
from ledger.domain.users import EmailClaim, Role, User

__all__ = [
    "CartItem",
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
    "StockAction",
    "StockMove",
    "User",
    "ValidationError",
    "checkout",
    "currency_exponent",
    "format_minor",
    "parse_minor",
]
