"""/products: the public catalog, and its administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.cached_reads import cached_routes
from api.consistency import Consistency, consistent_with
from api.errors import ApiError, issue
from api.errors import ErrorCode as E
from api.query import known_query_only
from api.responses import respond_json
from api.routes import API_PREFIX
from api.schemas.common import (
    Envelope,
    ListEnvelope,
    Text,
    command_docs,
    read_responses,
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
from api.writes import CommandsDep, ReadBack
from ledger.application import Ledger
from ledger.commands import AdjustStock, CreateProduct, DiscontinueProduct, UpdateProduct
from ledger.domain import parse_minor
from ledger.domain.errors import ValidationError
from reads.products import (
    CATALOG_VERSION,
    PRODUCT_VERSION,
    ProductFilter,
    get_product,
    list_products,
)

router = APIRouter(
    prefix=f"{API_PREFIX}/products", tags=["products"], dependencies=[known_query_only]
)
PRODUCTS = ("products",)
# A product command answers with the product as the catalog shows it.
PRODUCT = ReadBack(PRODUCTS, get_product, ProductOut.from_row)
ProductsRead = Annotated[Consistency, Depends(consistent_with(*PRODUCTS))]
ProductId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.-]+$")]
MAX_PAGE = 100_000


def to_minor(value: str | int | float, currency: str, loc: tuple[str, ...]) -> int:
    """A client's amount in minor units; a 422 at `loc` (as pydantic names a place:
    ("query", "min_price"), ("body", "items", "0", "price")) when it is not one."""
    try:
        return parse_minor(value, currency)
    except ValidationError as exc:
        raise ApiError("VALIDATION_ERROR", exc.message, [issue(loc, exc.message)]) from None


@router.get("", response_model=ListEnvelope[ProductOut], responses=read_responses())
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
        min_price=to_minor(min_price, currency, ("query", "min_price"))
        if min_price is not None
        else None,
        max_price=to_minor(max_price, currency, ("query", "max_price"))
        if max_price is not None
        else None,
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


@router.get(
    "/{product_id}", response_model=Envelope[ProductOut], responses=read_responses(E.NOT_FOUND)
)
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


# The catalog reads answered from the read cache (api.cached_reads), each keyed by its version.
CACHED_ROUTES = cached_routes(
    router,
    "products",
    {"products": (list_catalog, CATALOG_VERSION), "product": (product_detail, PRODUCT_VERSION)},
)

# What an admin's product command may answer besides invalid input: CONFLICT covers an id
# already taken and a concurrent change that kept winning.
_ADMIN = (E.UNAUTHORIZED, E.FORBIDDEN, E.CONFLICT)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[ProductOut],
    **command_docs(*_ADMIN, success=201),
)
async def create_product(
    body: ProductCreateIn, admin: AdminUser, state: State, commands: CommandsDep
) -> Response:
    """Create a product (admin)."""
    command = create_command(body, state.settings.ledger_currency)
    return await commands.write_once(
        admin.user_id, Ledger.create_product, command, PRODUCT, "Product created", 201
    )


def create_command(body: ProductCreateIn, currency: str) -> CreateProduct:
    """The command a product creation asks for (the API's and the back office's)."""
    return CreateProduct(
        product_id=body.id,
        name=body.name,
        description=body.description,
        price=to_minor(body.price, currency, ("body", "price")),
        category=body.category,
        tags=tuple(body.tags),
        images=tuple(body.images),
        stock=body.stock,
    )


@router.patch(
    "/{product_id}",
    response_model=Envelope[ProductOut],
    **command_docs(*_ADMIN, E.NOT_FOUND, idempotent=False),
)
async def update_product(
    product_id: ProductId,
    body: ProductUpdateIn,
    admin: AdminUser,
    state: State,
    commands: CommandsDep,
) -> Response:
    """Change a product's details or price (admin)."""
    command = update_command(product_id, body, state.settings.ledger_currency)
    return await commands.write(Ledger.update_product, command, PRODUCT, "Product updated")


def update_command(product_id: str, body: ProductUpdateIn, currency: str) -> UpdateProduct:
    """The command a product change asks for (the API's and the back office's): the fields
    `body` leaves out stay as they are."""
    price = body.price
    return UpdateProduct(
        product_id=product_id,
        name=body.name,
        description=body.description,
        category=body.category,
        tags=tuple(body.tags) if body.tags is not None else None,
        images=tuple(body.images) if body.images is not None else None,
        price=to_minor(price, currency, ("body", "price")) if price is not None else None,
    )


@router.post(
    "/{product_id}/stock",
    response_model=Envelope[ProductOut],
    **command_docs(*_ADMIN, E.NOT_FOUND, E.INSUFFICIENT_STOCK),
)
async def adjust_stock(
    product_id: ProductId,
    body: StockIn,
    admin: AdminUser,
    commands: CommandsDep,
) -> Response:
    """Receive (+delta) or remove (-delta) stock (admin)."""
    command = AdjustStock(product_id=product_id, delta=body.delta, reason=body.reason)
    return await commands.write_once(
        admin.user_id, Ledger.adjust_stock, command, PRODUCT, "Stock changed"
    )


@router.delete(
    "/{product_id}",
    response_model=Envelope[ProductOut],
    **command_docs(*_ADMIN, E.NOT_FOUND, idempotent=False),
)
async def discontinue_product(
    product_id: ProductId, _: AdminUser, commands: CommandsDep
) -> Response:
    """Discontinue a product (admin): no longer listed or orderable; its history stays."""
    command = DiscontinueProduct(product_id=product_id)
    return await commands.write(
        Ledger.discontinue_product, command, PRODUCT, "Product discontinued"
    )
