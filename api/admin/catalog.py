"""The back office's catalog: products of every status, searched and keyset paged; creating
one; its details, price, stock and discontinuation, each through the API's command."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.admin import actions, csrf, cursor, forms
from api.admin.failures import AdminRoute
from api.admin.pages import page
from api.admin.session import PATH, SignedIn
from api.errors import ApiError
from api.routes.products import PRODUCTS, ProductId, create_command, update_command
from api.schemas.products import ProductCreateIn, ProductUpdateIn, StockIn
from api.state import State
from api.writes import CommandsDep
from ledger.application import Ledger
from ledger.commands import AdjustStock, DiscontinueProduct
from ledger.domain import format_minor
from reads.browse import products_page
from reads.products import get_product

router = APIRouter(prefix=f"{PATH}/catalog", route_class=AdminRoute, include_in_schema=False)
Checked = [Depends(csrf.check_csrf)]
PAGE_SIZE = 50
STATUSES = ("active", "discontinued")


@router.get("")
async def catalog(
    request: Request,
    state: State,
    admin: SignedIn,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(pattern="^(active|discontinued)?$")] = None,
    after: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    key = cursor.decode(after, 2)
    async with state.pool.connection() as conn:
        found = await products_page(
            conn, q or None, status or None, (key[0], key[1]) if key else None, PAGE_SIZE
        )
    last = found.rows[-1] if found.rows else None
    return page(
        request, state, "catalog.html", admin, products=found.rows, more=found.more,
        after=cursor.encode(last["name"], last["id"]) if last else "",
        query=cursor.Links(request.query_params), q=q or "", status=status or "",
        statuses=STATUSES,
    )  # fmt: skip


@router.get("/new")
async def new_product(request: Request, state: State, admin: SignedIn) -> Response:
    return page(request, state, "product_new.html", admin)


@router.post("", dependencies=Checked)
async def create_product(
    request: Request, state: State, _: SignedIn, commands: CommandsDep
) -> Response:
    data = await forms.fields(request)
    body = forms.parse(
        ProductCreateIn,
        {
            "id": data.get("id", "").strip() or None,
            "name": data.get("name", ""),
            "description": data.get("description", ""),
            "price": data.get("price", ""),
            "category": data.get("category", ""),
            "tags": forms.listed(data.get("tags", ""), ","),
            "images": forms.listed(data.get("images", ""), "\n"),
            "stock": data.get("stock") or 0,
        },
    )
    command = create_command(body, state.currency)
    result = await actions.command(commands, Ledger.create_product, command, PRODUCTS)
    return actions.done(f"{PATH}/catalog/{result.aggregate_id}", "product-created")


@router.get("/{product_id}")
async def product(
    product_id: ProductId, request: Request, state: State, admin: SignedIn
) -> Response:
    async with state.pool.connection() as conn:
        row = await get_product(conn, product_id)
    if row is None:
        raise ApiError("NOT_FOUND", f"product {product_id} not found")
    return page(
        request, state, "product.html", admin, product=row,
        price=format_minor(row["price"], row["currency"]),
    )  # fmt: skip


@router.post("/{product_id}", dependencies=Checked)
async def update_product(
    product_id: ProductId, request: Request, state: State, _: SignedIn, commands: CommandsDep
) -> Response:
    data = await forms.fields(request)
    body = forms.parse(
        ProductUpdateIn,
        {
            "name": data.get("name", ""),
            "description": data.get("description", ""),
            "category": data.get("category", ""),
            "tags": forms.listed(data.get("tags", ""), ","),
            "images": forms.listed(data.get("images", ""), "\n"),
        },
    )
    await _update(product_id, body, state.currency, commands)
    return actions.done(f"{PATH}/catalog/{product_id}", "product-updated")


@router.post("/{product_id}/price", dependencies=Checked)
async def change_price(
    product_id: ProductId, request: Request, state: State, _: SignedIn, commands: CommandsDep
) -> Response:
    data = await forms.fields(request)
    body = forms.parse(ProductUpdateIn, {"price": forms.required(data, "price")})
    await _update(product_id, body, state.currency, commands)
    return actions.done(f"{PATH}/catalog/{product_id}", "price-changed")


async def _update(
    product_id: str, body: ProductUpdateIn, currency: str, commands: CommandsDep
) -> None:
    command = update_command(product_id, body, currency)
    await actions.command(commands, Ledger.update_product, command, PRODUCTS)


@router.post("/{product_id}/stock", dependencies=Checked)
async def adjust_stock(
    product_id: ProductId, request: Request, _: SignedIn, commands: CommandsDep
) -> Response:
    data = await forms.fields(request)
    body = forms.parse(StockIn, {"delta": data.get("delta", ""), "reason": data.get("reason", "")})
    command = AdjustStock(product_id=product_id, delta=body.delta, reason=body.reason)
    await actions.command(commands, Ledger.adjust_stock, command, PRODUCTS)
    return actions.done(f"{PATH}/catalog/{product_id}", "stock-changed")


@router.post("/{product_id}/discontinue", dependencies=Checked)
async def discontinue(product_id: ProductId, _: SignedIn, commands: CommandsDep) -> Response:
    command = DiscontinueProduct(product_id=product_id)
    await actions.command(commands, Ledger.discontinue_product, command, PRODUCTS)
    return actions.done(f"{PATH}/catalog/{product_id}", "product-discontinued")
