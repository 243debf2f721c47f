"""The baseline's routes: register, login, product list and detail, place order. A request
opens a session, runs its statements through the ORM and commits (the roadmap's `get_db`,
inside the route: FastAPI may run a dependency's exit after the response has gone);
placing an order locks its products' rows (SELECT ... FOR UPDATE), checks and decrements their
stock and inserts the order and its items, all in one transaction."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.crud import database, security
from bench.crud.schemas import (
    Envelope,
    ListEnvelope,
    LoginIn,
    OrderItemOut,
    OrderOut,
    PageMeta,
    PlaceOrderIn,
    ProductOut,
    RegisteredOut,
    RegisterIn,
    TokensOut,
)
from bench.crud.tables import (
    Order,
    OrderItem,
    OrderStatus,
    Product,
    RefreshToken,
    User,
    UserRole,
)

PREFIX = "/api/v1"
_bearer = HTTPBearer(auto_error=False)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's user id, from the Bearer access token."""
    if credentials is None:
        raise ApiError(401, "UNAUTHORIZED", "sign in first")
    try:
        return security.token_subject(request.app.state.secret, credentials.credentials)
    except security.InvalidTokenError:
        raise ApiError(401, "UNAUTHORIZED", "the access token is invalid") from None


UserId = Annotated[str, Depends(current_user)]


def create_app() -> FastAPI:
    """The app, on the database in BENCH_CRUD_DATABASE_URL, signing with BENCH_CRUD_SECRET."""
    url, secret = os.environ["BENCH_CRUD_DATABASE_URL"], os.environ["BENCH_CRUD_SECRET"]
    engine = database.engine(url)
    sessions: async_sessionmaker[AsyncSession] = database.sessions(engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.state.secret = secret
    app.state.engine = engine

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        body = {"success": False, "error": {"code": exc.code, "message": exc.message}}
        return JSONResponse(body, status_code=exc.status)

    @app.post(f"{PREFIX}/auth/register", status_code=201)
    async def register(body: RegisterIn) -> Envelope[RegisteredOut]:
        """Create a customer account."""
        password_hash = await asyncio.to_thread(security.hasher.hash, body.password)
        user = User(
            id=_new_id("user"), name=body.name, email=body.email.lower(), password=password_hash
        )
        try:
            async with sessions.begin() as db:
                db.add(user)
        except IntegrityError:
            raise ApiError(409, "CONFLICT", "this email is already registered") from None
        out = RegisteredOut(id=user.id, name=user.name, email=user.email, role=UserRole.CUSTOMER)
        return Envelope(message="User registered successfully", data=out)

    @app.post(f"{PREFIX}/auth/login")
    async def login(body: LoginIn) -> Envelope[TokensOut]:
        """Sign in with email and password."""
        async with sessions.begin() as db:
            user = await db.scalar(
                select(User).where(User.email == body.email.lower(), User.is_deleted.is_(False))
            )
        stored = user.password if user else None
        valid = await asyncio.to_thread(security.verify_password, stored, body.password)
        if user is None or not valid:
            raise ApiError(401, "UNAUTHORIZED", "invalid email or password")
        refresh, digest = security.refresh_token()
        expires = datetime.now(UTC) + timedelta(days=security.REFRESH_TOKEN_DAYS)
        async with sessions.begin() as db:
            db.add(
                RefreshToken(
                    token_hash=digest,
                    family_id=uuid.uuid4().hex,
                    user_id=user.id,
                    expires_at=expires,
                )
            )
        tokens = TokensOut(
            access_token=security.access_token(secret, user.id, user.role.value),
            refresh_token=refresh,
            expires_in=security.ACCESS_TOKEN_SECONDS,
        )
        return Envelope(message="Signed in", data=tokens)

    @app.get(f"{PREFIX}/products")
    async def list_products(page: int = 1, page_size: int = 20) -> ListEnvelope[ProductOut]:
        """Products by name, one page of them, and how many there are."""
        page, page_size = max(1, page), min(max(1, page_size), 100)
        async with sessions.begin() as db:
            rows = (
                await db.execute(
                    select(Product, func.count().over())
                    .where(Product.is_deleted.is_(False))
                    .order_by(Product.name, Product.id)
                    .limit(page_size)
                    .offset((page - 1) * page_size)
                )
            ).all()
        return ListEnvelope(
            message="Products",
            data=[ProductOut.model_validate(product) for product, _ in rows],
            meta=PageMeta(page=page, page_size=page_size, total=rows[0][1] if rows else 0),
        )

    @app.get(f"{PREFIX}/products/{{product_id}}")
    async def product_detail(product_id: str) -> Envelope[ProductOut]:
        """One product."""
        async with sessions.begin() as db:
            product = await db.scalar(
                select(Product).where(Product.id == product_id, Product.is_deleted.is_(False))
            )
        if product is None:
            raise ApiError(404, "NOT_FOUND", f"product {product_id} not found")
        return Envelope(message="Product", data=ProductOut.model_validate(product))

    @app.post(f"{PREFIX}/orders", status_code=201)
    async def place_order(body: PlaceOrderIn, user_id: UserId) -> Envelope[OrderOut]:
        """Place an order: lock the products, check and take their stock, insert the order."""
        async with sessions.begin() as db:
            order, items = await _place(db, body, user_id)
        return Envelope(message="Order placed", data=_order_out(order, items, body))

    return app


async def _place(
    db: AsyncSession, body: PlaceOrderIn, user_id: str
) -> tuple[Order, list[OrderItem]]:
    """Locks the order's products, checks and decrements their stock, inserts the order and
    its items; ApiError (and the caller's rollback) when it cannot be placed."""
    wanted: dict[str, int] = {}
    for item in body.items:
        wanted[item.product_id] = wanted.get(item.product_id, 0) + item.quantity
    # In id order, so that two orders over the same products cannot deadlock.
    locked = await db.scalars(
        select(Product)
        .where(Product.id.in_(sorted(wanted)), Product.is_deleted.is_(False))
        .order_by(Product.id)
        .with_for_update()
    )
    products = {p.id: p for p in locked}
    for item in body.items:
        product = products.get(item.product_id)
        if product is None:
            raise ApiError(404, "NOT_FOUND", f"product {item.product_id} not found")
        if item.price is not None and item.price != product.price:
            raise ApiError(409, "PRICE_CHANGED", f"{product.id} now costs {product.price}")
    for product_id, quantity in wanted.items():
        product = products[product_id]
        if product.stock < quantity:
            raise ApiError(409, "INSUFFICIENT_STOCK", f"{product_id}: {product.stock} left")
        product.stock -= quantity
        product.version += 1
    address = body.shipping_address
    order = Order(
        id=_new_id("ord"),
        user_id=user_id,
        status=OrderStatus.PENDING,
        total_amount=sum(products[i.product_id].price * i.quantity for i in body.items),
        payment_method=body.payment_method.value,
        shipping_name=address.full_name,
        shipping_address_line1=address.address_line1,
        shipping_address_line2=address.address_line2,
        shipping_city=address.city,
        shipping_state=address.state,
        shipping_postal_code=address.postal_code,
        shipping_country=address.country.upper(),
    )
    items = [
        OrderItem(
            id=_new_id("item"),
            order_id=order.id,
            product_id=i.product_id,
            name=products[i.product_id].name,
            quantity=i.quantity,
            unit_price=products[i.product_id].price,
            subtotal=products[i.product_id].price * i.quantity,
        )
        for i in body.items
    ]
    db.add(order)
    await db.flush()  # the order row before its items (their foreign key)
    db.add_all(items)
    return order, items


def _order_out(order: Order, items: list[OrderItem], body: PlaceOrderIn) -> OrderOut:
    return OrderOut(
        id=order.id,
        customer_id=order.user_id,
        status=order.status.value,
        items=[
            OrderItemOut(
                product_id=i.product_id,
                name=i.name,
                quantity=i.quantity,
                unit_price=i.unit_price,
                subtotal=i.subtotal,
            )
            for i in items
        ],
        total=order.total_amount,
        shipping_address=body.shipping_address.model_dump(),
        payment_method=order.payment_method,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
