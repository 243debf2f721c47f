"""/products: the public catalog, and its administration."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.cache import CachedRoute
from api.commands import (
    CommandsDep,
    Consistency,
    Settled,
    consistent_with,
    read_back,
    respond_json,
)
from api.errors import ApiError
from api.idempotency import idempotent
from api.routes import API_PREFIX
from api.schemas.common import (
    Envelope,
    ListEnvelope,
    Text,
    command_responses,
    error_responses,
)
from api.schemas.products import (
    ProductCreateIn,
    ProductOut,
    ProductSort,
    ProductUpdateIn,
    StockIn,
    product_fields,
)
from api.security import AdminUser
from api.state import State
from ledger.application import Ledger
from ledger.commands import AdjustStock, CreateProduct, DiscontinueProduct, UpdateProduct
from ledger.domain import parse_minor
from ledger.domain.errors import ValidationError
from reads.products import ProductFilter, get_product, list_products

router = APIRouter(prefix=f"{API_PREFIX}/products", tags=["products"])
PRODUCTS = ("products",)
ProductsRead = Annotated[Consistency, Depends(consistent_with(*PRODUCTS))]
ProductId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.-]+$")]
MAX_PAGE = 100_000
# The catalog reads answered from the read cache (api.cache) while `products` stays put.
CACHED_ROUTES = (
    CachedRoute(
        "products", re.compile(f"{API_PREFIX}/products"), "products", f"{API_PREFIX}/products"
    ),
    CachedRoute(
        "product",
        re.compile(f"{API_PREFIX}/products/[^/]+"),
        "products",
        f"{API_PREFIX}/products/{{product_id}}",
    ),
)


def to_minor(value: str | int | float, currency: str, field: str) -> int:
    """A client's amount in minor units; a 422 naming the field when it is not one."""
    try:
        return parse_minor(value, currency)
    except ValidationError as exc:
        raise ValidationError(exc.message, {"field": field}) from None


@router.get("", response_model=ListEnvelope[ProductOut], responses=error_responses())
async def list_catalog(
    state: State,
    consistency: ProductsRead,
    category: Annotated[Text | None, Query(max_length=100)] = None,
    q: Annotated[
        Text | None, Query(max_length=200, description="Search name and description")
    ] = None,
    min_price: Annotated[Text | None, Query(max_length=40, description="e.g. 10.00")] = None,
    max_price: Annotated[Text | None, Query(max_length=40, description="e.g. 99.99")] = None,
    in_stock: bool | None = None,
    sort: ProductSort = ProductSort.NAME,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Active products, filtered, sorted and paged."""
    currency = state.settings.ledger_currency
    filters = ProductFilter(
        category=category,
        q=q,
        min_price=to_minor(min_price, currency, "min_price") if min_price is not None else None,
        max_price=to_minor(max_price, currency, "max_price") if max_price is not None else None,
        in_stock=in_stock,
    )
    async with state.pool.connection() as conn:
        rows, total = await list_products(
            conn, filters, sort.value, page_size, (page - 1) * page_size
        )
    envelope = {
        "success": True,
        "message": "Products",
        "data": [product_fields(row) for row in rows],
        "meta": {"page": page, "page_size": page_size, "total": total},
    }
    return respond_json(envelope, 200, consistency.headers)


@router.get("/{product_id}", response_model=Envelope[ProductOut], responses=error_responses(404))
async def product_detail(
    product_id: ProductId, state: State, consistency: ProductsRead
) -> Response:
    """One product, with stock on hand, reserved and available."""
    async with state.pool.connection() as conn:
        row = await get_product(conn, product_id)
    if row is None:
        raise ApiError("NOT_FOUND", f"product {product_id} not found")
    envelope = {"success": True, "message": "Product", "data": product_fields(row)}
    return respond_json(envelope, 200, consistency.headers)


async def _product_response(
    state: State, settled: Settled, message: str, status_code: int = 200
) -> Response:
    """The product as the projection shows it once the command is visible there."""
    return await read_back(state, settled, message, get_product, ProductOut.from_row, status_code)


_COMMAND_RESPONSES = command_responses(401, 403, 404, 409, 413)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[ProductOut],
    responses=_COMMAND_RESPONSES,
)
async def create_product(
    body: ProductCreateIn, request: Request, admin: AdminUser, state: State, commands: CommandsDep
) -> Response:
    """Create a product (admin)."""
    command = CreateProduct(
        product_id=body.id,
        name=body.name,
        description=body.description,
        price=to_minor(body.price, state.settings.ledger_currency, "price"),
        category=body.category,
        tags=tuple(body.tags),
        images=tuple(body.images),
        stock=body.stock,
    )

    async def execute() -> Response:
        result = await commands.run(Ledger.create_product, command)
        settled = await commands.settle(result, PRODUCTS)
        return await _product_response(state, settled, "Product created", 201)

    return await idempotent(
        request, state.pool, admin.user_id, state.settings.ledger_currency, execute
    )


@router.patch(
    "/{product_id}",
    response_model=Envelope[ProductOut],
    responses=_COMMAND_RESPONSES,
)
async def update_product(
    product_id: ProductId,
    body: ProductUpdateIn,
    admin: AdminUser,
    state: State,
    commands: CommandsDep,
) -> Response:
    """Change a product's details or price (admin)."""
    price = body.price
    command = UpdateProduct(
        product_id=product_id,
        name=body.name,
        description=body.description,
        category=body.category,
        tags=tuple(body.tags) if body.tags is not None else None,
        images=tuple(body.images) if body.images is not None else None,
        price=to_minor(price, state.settings.ledger_currency, "price")
        if price is not None
        else None,
    )
    result = await commands.run(Ledger.update_product, command)
    settled = await commands.settle(result, PRODUCTS)
    return await _product_response(state, settled, "Product updated")


@router.post(
    "/{product_id}/stock",
    response_model=Envelope[ProductOut],
    responses=_COMMAND_RESPONSES,
)
async def adjust_stock(
    product_id: ProductId,
    body: StockIn,
    request: Request,
    admin: AdminUser,
    state: State,
    commands: CommandsDep,
) -> Response:
    """Receive (+delta) or remove (-delta) stock (admin)."""
    command = AdjustStock(product_id=product_id, delta=body.delta, reason=body.reason)

    async def execute() -> Response:
        result = await commands.run(Ledger.adjust_stock, command)
        settled = await commands.settle(result, PRODUCTS)
        return await _product_response(state, settled, "Stock changed")

    return await idempotent(
        request, state.pool, admin.user_id, state.settings.ledger_currency, execute
    )


@router.delete(
    "/{product_id}",
    response_model=Envelope[ProductOut],
    responses=_COMMAND_RESPONSES,
)
async def discontinue_product(
    product_id: ProductId, admin: AdminUser, state: State, commands: CommandsDep
) -> Response:
    """Discontinue a product (admin): no longer listed or orderable; its history stays."""
    command = DiscontinueProduct(product_id=product_id)
    result = await commands.run(Ledger.discontinue_product, command)
    settled = await commands.settle(result, PRODUCTS)
    return await _product_response(state, settled, "Product discontinued")
