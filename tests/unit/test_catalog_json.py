"""The catalog reads render products from plain data (orjson) rather than through their
response models: the JSON must be exactly what the models would render."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from api.responses import respond_json
from api.schemas.common import Envelope, ListEnvelope, PageMeta
from api.schemas.products import ProductOut, product_fields


def _row(created_at: datetime) -> dict[str, Any]:
    return {
        "id": "prod_1",
        "name": "Ünïcode — name",
        "description": "",
        "price": 2999,
        "currency": "USD",
        "category": "books",
        "tags": ["a", "b"],
        "images": [],
        "on_hand": 10,
        "reserved": 3,
        "available": 7,
        "status": "active",
        "created_at": created_at,
        "updated_at": created_at + timedelta(microseconds=1),
        "total_count": 1,  # the list query's window count is not a field
    }


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(2026, 11, 26, 19, 30, 49, 47023, tzinfo=UTC),
        datetime(2026, 11, 26, 19, 30, 49, tzinfo=UTC),  # no microseconds
        datetime(2026, 11, 26, 20, 30, 49, 5, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_plain_rendering_equals_the_models(created_at: datetime) -> None:
    row = _row(created_at)
    detail = respond_json({"success": True, "message": "Product", "data": product_fields(row)})
    model = Envelope(message="Product", data=ProductOut.model_validate(product_fields(row)))
    assert orjson.loads(bytes(detail.body)) == orjson.loads(model.model_dump_json())

    page = respond_json(
        {
            "success": True,
            "message": "Products",
            "data": [product_fields(row)],
            "meta": {"page": 1, "page_size": 20, "total": 1},
        }
    )
    listed: ListEnvelope[ProductOut] = ListEnvelope(
        message="Products",
        data=[ProductOut.from_row(row)],
        meta=PageMeta(page=1, page_size=20, total=1),
    )
    assert orjson.loads(bytes(page.body)) == orjson.loads(listed.model_dump_json())
    assert page.headers["content-type"] == "application/json"
