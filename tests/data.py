"""Test data with no I/O, for every tier (the unit tier included): the password and secret
key of every test ledger, shipping addresses, settings, and request bodies."""

from __future__ import annotations

import uuid
from typing import Any

from ledger.domain import ShippingAddress
from ledger.settings import Settings

PASSWORD = "SecurePass123!@#"


# The key of every ledger the tests run; tests that make tokens themselves sign with it.
SECRET_KEY = "x" * 48


# A shipping address as the API takes it.
ADDRESS = {
    "full_name": "Test User",
    "address_line1": "123 Test St",
    "city": "Test City",
    "state": "TS",
    "postal_code": "12345",
    "country": "US",
}


# A shipping address as the domain and the write side take it.
SHIPPING_ADDRESS = ShippingAddress(
    full_name="Ada Lovelace",
    address_line1="1 Analytical Way",
    city="London",
    state="LDN",
    postal_code="N1 9GU",
    country="GB",
)


def make_settings(**overrides: Any) -> Settings:
    """Settings of a test ledger: the test environment and SECRET_KEY, plus `overrides`."""
    values: dict[str, Any] = {"ledger_env": "test", "ledger_secret_key": SECRET_KEY, **overrides}
    return Settings(**values)


def unique_email(prefix: str = "user") -> str:
    """An email address no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def auth(token: str) -> dict[str, str]:
    """The headers that present `token`."""
    return {"Authorization": f"Bearer {token}"}


def product_body(**overrides: Any) -> dict[str, Any]:
    """A valid product as the API takes it, with a name of its own."""
    return {
        "name": f"Widget {uuid.uuid4().hex[:6]}",
        "description": "A widget",
        "price": "10.00",
        "category": "widgets",
        "tags": [],
        "stock": 100,
        **overrides,
    }


def order_body(product_id: str, quantity: int = 1) -> dict[str, Any]:
    """An order of one product line, as the API takes it."""
    return {
        "items": [{"product_id": product_id, "quantity": quantity}],
        "shipping_address": ADDRESS,
        "payment_method": "card",
    }
