"""Product models; money leaves as decimal strings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Amount, Model, Text
from ledger.domain import format_minor

Name = Annotated[Text, Field(min_length=1, max_length=200)]
Description = Annotated[Text, Field(max_length=5000)]
Category = Annotated[Text, Field(min_length=1, max_length=100)]
Tags = Annotated[list[Annotated[Text, Field(min_length=1, max_length=50)]], Field(max_length=50)]
Images = Annotated[
    list[Annotated[Text, Field(min_length=1, max_length=2000)]], Field(max_length=20)
]
MAX_STOCK = 10**9


class ProductSort(StrEnum):
    NAME = "name"
    NAME_DESC = "-name"
    PRICE = "price"
    PRICE_DESC = "-price"
    NEWEST = "-created_at"


class ProductCreateIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "prod_1",
                    "name": "Merino Wool Crew Sweater",
                    "description": "Midweight merino knit, machine washable.",
                    "price": "29.99",
                    "category": "apparel",
                    "tags": ["wool", "winter"],
                    "images": ["https://images.example.com/products/merino-crew.jpg"],
                    "stock": 120,
                }
            ]
        }
    )

    id: Annotated[str | None, Field(pattern=r"^prod_[A-Za-z0-9_-]{1,59}$")] = None
    name: Name
    description: Description = ""
    price: Amount
    category: Category
    tags: Tags = Field(default_factory=list)
    images: Images = Field(default_factory=list)
    stock: Annotated[int, Field(ge=0, le=MAX_STOCK)] = 0


class ProductUpdateIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"price": "34.99", "description": "Midweight merino knit, now in six colours."}
            ]
        }
    )

    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    tags: Tags | None = None
    images: Images | None = None
    price: Amount | None = None


class StockIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"delta": 50, "reason": "Received purchase order PO-20417"}]
        }
    )

    delta: Annotated[int, Field(ge=-MAX_STOCK, le=MAX_STOCK, description="+ receives, - removes")]
    reason: Annotated[Text, Field(min_length=1, max_length=500)]


class ProductOut(BaseModel):
    id: str
    name: str
    description: str
    price: str
    currency: str
    category: str
    tags: list[str]
    images: list[str]
    on_hand: int
    reserved: int
    available: int
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ProductOut:
        # Rows come from our own projection tables: built, not re-validated.
        return cls.model_construct(**product_fields(row))


def product_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A `products` row as the API shows it: ProductOut's fields, as plain data (the catalog
    reads serialise these directly, without building models)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "price": format_minor(row["price"], row["currency"]),
        "currency": row["currency"],
        "category": row["category"],
        "tags": list(row["tags"]),
        "images": list(row["images"]),
        "on_hand": row["on_hand"],
        "reserved": row["reserved"],
        "available": row["available"],
        "status": row["status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
