"""The baseline's engine (the roadmap's Step 1.3 settings) and its start-up: tables created
from the models and the ledger's demo catalog (ledger.demo) inserted, each product stocked for
the whole run like the ledger's bench database (bench.database.BENCH_STOCK)."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bench.crud.tables import Base, Product

# The roadmap's pool is 20 + 40 overflow per process. Here a worker holds 20, as many as a
# ledger API worker (10 read and 10 command connections, ledger_db_pool_size): two workers at
# the roadmap's size ran a shared server out of its 100 connections. No overflow: under load
# SQLAlchemy closed and reopened overflow connections (half the backends replaced in 3 s), and
# a backend that exits takes its CPU time out of /proc before bench.cpu can read it.
POOL_SIZE = 20
MAX_OVERFLOW = 0


def engine(url: str) -> AsyncEngine:
    """An engine on `url` (a libpq URL, handed to asyncpg as it is)."""
    return create_async_engine(
        "postgresql+asyncpg://",
        async_creator=partial(asyncpg.connect, url),
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_timeout=30,
        pool_recycle=3600,
        pool_pre_ping=True,
    )


def sessions(db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(db, expire_on_commit=False, autoflush=False)


async def create(url: str, stock: int) -> None:
    """Creates the tables and the demo catalog unless they exist."""
    from ledger.demo import demo_products

    db = engine(url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with sessions(db)() as session, session.begin():
            if (await session.scalar(select(Product.id).limit(1))) is not None:
                return
            session.add_all(
                Product(
                    id=p.product_id,
                    name=p.name,
                    description=p.description,
                    price=Decimal(p.price) / 100,
                    stock=stock,
                    category=p.category,
                    tags=list(p.tags),
                    images=list(p.images),
                )
                for p in demo_products()
            )
    finally:
        await db.dispose()
