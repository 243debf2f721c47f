"""Alembic environment: plain SQL migrations run over one psycopg connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from ledger.database import sqlalchemy_url


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations with `ledger db upgrade`")
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run `ledger db upgrade`")
run_migrations_online()
