"""Report rows; money as decimal strings."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

# The report choices are the read side's (the CLI offers the same); named here for the routes.
from ledger.choices import Granularity as Granularity
from ledger.choices import TopBy as TopBy


class SalesRowOut(BaseModel):
    period: date
    orders: int
    items: int
    gross: str
    refunds: str
    net: str


class TopProductOut(BaseModel):
    product_id: str
    name: str
    quantity: int
    revenue: str


class InventoryRowOut(BaseModel):
    product_id: str
    name: str
    status: str
    price: str
    currency: str
    on_hand: int
    reserved: int
    available: int
    stock_value: str


class StatusCountOut(BaseModel):
    status: str
    count: int
