"""Request and response models of the baseline, in the ledger API's shapes (the same wrk
scripts and the seed's locustfile drive both)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field

T = TypeVar("T")
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    message: str
    data: T


class PageMeta(BaseModel):
    page: int
    page_size: int
    total: int


class ListEnvelope(Envelope[list[T]], Generic[T]):
    meta: PageMeta


class RegisterIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    email: EmailStr
    password: Annotated[str, Field(min_length=12, max_length=256)]


class LoginIn(BaseModel):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class RegisteredOut(BaseModel):
    id: str
    name: str
    email: str
    role: str


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str
    price: Decimal
    category: str
    tags: list[str]
    images: list[str]
    stock: int
    created_at: datetime
    updated_at: datetime


class PaymentMethod(StrEnum):
    CARD = "card"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    STRIPE = "stripe"


class ShippingAddressIn(BaseModel):
    full_name: ShortText
    address_line1: ShortText
    address_line2: Annotated[str, Field(max_length=200)] | None = None
    city: ShortText
    state: Annotated[str, Field(max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]


class OrderItemIn(BaseModel):
    product_id: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    price: Decimal | None = None


class PlaceOrderIn(BaseModel):
    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=100)]
    shipping_address: ShippingAddressIn
    payment_method: PaymentMethod


class OrderItemOut(BaseModel):
    product_id: str
    name: str
    quantity: int
    unit_price: Decimal
    subtotal: Decimal


class OrderOut(BaseModel):
    id: str
    customer_id: str
    status: str
    items: list[OrderItemOut]
    total: Decimal
    shipping_address: dict[str, Any]
    payment_method: str
    created_at: datetime
    updated_at: datetime
