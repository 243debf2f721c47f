"""Order models: placement, lifecycle transitions, the order and its history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.schemas.common import Amount, Model, Text
from ledger.domain import OrderStatus, format_minor
from ledger.domain.countries import country_code

ShortText = Annotated[Text, Field(min_length=1, max_length=200)]
MAX_QUANTITY = 10_000
MAX_ITEMS = 100


class PaymentMethod(StrEnum):
    """How an order is paid; any other value is a 422 listing these."""

    CARD = "card"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    STRIPE = "stripe"


Country = Annotated[
    str,
    Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, any case; kept upper case"),
    AfterValidator(country_code),
]


# The OpenAPI examples' shipping address (the address model's and the order's).
EXAMPLE_ADDRESS: JsonDict = {
    "full_name": "Ada Lovelace",
    "address_line1": "350 Fifth Avenue",
    "address_line2": "Suite 4200",
    "city": "New York",
    "state": "NY",
    "postal_code": "10118",
    "country": "US",
}


class ShippingAddressIn(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ADDRESS]})

    full_name: ShortText
    address_line1: ShortText
    address_line2: Annotated[Text, Field(max_length=200)] | None = None
    city: ShortText
    state: Annotated[Text, Field(max_length=100)]
    postal_code: Annotated[Text, Field(min_length=1, max_length=20)]
    country: Country


class OrderItemIn(Model):
    product_id: Annotated[Text, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    price: Amount | None = Field(
        default=None, description="The price the client expects; a different one is a 409."
    )


class PlaceOrderIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"product_id": "prod_1", "quantity": 2, "price": "29.99"},
                        {"product_id": "prod_2", "quantity": 1},
                    ],
                    "shipping_address": EXAMPLE_ADDRESS,
                    "payment_method": "card",
                }
            ]
        }
    )

    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=MAX_ITEMS)]
    shipping_address: ShippingAddressIn
    payment_method: PaymentMethod


class ConfirmIn(Model):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"payment_intent_id": "pi_3PqK2eLkdIwHu7ix0X1YzAbC"}]}
    )

    payment_intent_id: Annotated[Text, Field(min_length=1, max_length=200)]


class ShipIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"carrier": "UPS", "tracking_number": "1Z999AA10123456784"}]
        }
    )

    carrier: Annotated[Text, Field(min_length=1, max_length=100)]
    tracking_number: Annotated[Text, Field(min_length=1, max_length=100)]


class ReasonIn(Model):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "The customer asked to cancel before shipping"}]}
    )

    reason: Annotated[Text, Field(max_length=500)] = ""


class EmptyIn(Model):
    """No fields: the transition needs nothing but the order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


# The shipping address's keys in the contract's order; the read table keeps it as jsonb, which
# stores an object's keys by length, not as written.
ADDRESS_FIELDS = (
    "full_name", "address_line1", "address_line2", "city", "state", "postal_code", "country"
)  # fmt: skip


def in_contract_order(address: dict[str, Any]) -> dict[str, Any]:
    """The address with its keys in ADDRESS_FIELDS order, any others after them."""
    ordered = {key: address[key] for key in ADDRESS_FIELDS if key in address}
    return {**ordered, **{k: v for k, v in address.items() if k not in ordered}}


class OrderItemOut(BaseModel):
    product_id: str
    name: str
    quantity: int
    unit_price: str
    subtotal: str


class OrderOut(BaseModel):
    id: str
    customer_id: str
    status: OrderStatus
    items: list[OrderItemOut]
    total: str
    currency: str
    shipping_address: dict[str, Any]
    payment_method: str
    payment_intent_id: str | None
    carrier: str | None
    tracking_number: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OrderOut:
        currency = row["currency"]
        return cls(
            id=row["id"],
            customer_id=row["customer_id"],
            status=row["status"],
            items=[
                OrderItemOut(
                    product_id=item["product_id"],
                    name=item["name"],
                    quantity=item["quantity"],
                    unit_price=format_minor(item["unit_price"], currency),
                    subtotal=format_minor(item["subtotal"], currency),
                )
                for item in row["items"] or []
            ],
            total=format_minor(row["total"], currency),
            currency=currency,
            shipping_address=in_contract_order(row["shipping_address"]),
            payment_method=row["payment_method"],
            payment_intent_id=row["payment_intent_id"],
            carrier=row["carrier"],
            tracking_number=row["tracking_number"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class HistoryEntryOut(BaseModel):
    status: str
    at: datetime
    actor: str
    reason: str | None = None
