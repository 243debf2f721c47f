"""Read models: the plain tables the projectors keep and the API reads, with their tracking.

Each projection's rows and its `projection_positions` row commit in one transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE projection_positions (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    rebuild_started_at timestamptz,
    rebuild_position bigint,
    rebuild_target bigint
);

CREATE TABLE projection_dead_letters (
    projection text NOT NULL,
    position bigint NOT NULL,
    originator_id text NOT NULL,
    originator_version bigint NOT NULL,
    topic text NOT NULL,
    error text NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, position)
);
CREATE INDEX projection_dead_letters_aggregate_idx
    ON projection_dead_letters (projection, originator_id);

CREATE TABLE products (
    id text PRIMARY KEY,
    name text NOT NULL,
    description text NOT NULL,
    price bigint NOT NULL,
    currency text NOT NULL,
    category text NOT NULL,
    tags text[] NOT NULL,
    images text[] NOT NULL,
    on_hand bigint NOT NULL,
    reserved bigint NOT NULL,
    available bigint GENERATED ALWAYS AS (on_hand - reserved) STORED,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX products_status_category_idx ON products (status, category);
CREATE INDEX products_status_price_idx ON products (status, price);
CREATE INDEX products_status_name_idx ON products (status, name);
CREATE INDEX products_status_created_idx ON products (status, created_at DESC);

CREATE TABLE users (
    id text PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE orders (
    id text PRIMARY KEY,
    customer_id text NOT NULL,
    status text NOT NULL,
    total bigint NOT NULL,
    currency text NOT NULL,
    shipping_address jsonb NOT NULL,
    payment_method text NOT NULL,
    payment_intent_id text,
    carrier text,
    tracking_number text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC);
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC);

CREATE TABLE order_items (
    order_id text NOT NULL,
    line_no integer NOT NULL,
    product_id text NOT NULL,
    name text NOT NULL,
    quantity integer NOT NULL,
    unit_price bigint NOT NULL,
    subtotal bigint NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_status_history (
    order_id text NOT NULL,
    version bigint NOT NULL,
    status text NOT NULL,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    reason text,
    PRIMARY KEY (order_id, version)
);

CREATE TABLE inventory (
    product_id text PRIMARY KEY,
    name text NOT NULL,
    price bigint NOT NULL,
    currency text NOT NULL,
    status text NOT NULL,
    on_hand bigint NOT NULL,
    reserved bigint NOT NULL,
    available bigint GENERATED ALWAYS AS (on_hand - reserved) STORED,
    received_total bigint NOT NULL,
    adjusted_total bigint NOT NULL,
    shipped_total bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX inventory_available_idx ON inventory (available);

CREATE TABLE sales_daily (
    day date PRIMARY KEY,
    orders bigint NOT NULL,
    items bigint NOT NULL,
    gross bigint NOT NULL,
    refunds bigint NOT NULL
);

CREATE TABLE product_sales_daily (
    product_id text NOT NULL,
    day date NOT NULL,
    quantity bigint NOT NULL,
    revenue bigint NOT NULL,
    PRIMARY KEY (product_id, day)
);
CREATE INDEX product_sales_daily_day_idx ON product_sales_daily (day);
"""

DROPS = [
    "product_sales_daily", "sales_daily", "inventory", "order_status_history", "order_items",
    "orders", "users", "products", "projection_dead_letters", "projection_positions",
]  # fmt: skip


def upgrade() -> None:
    op.execute(TABLES)


def downgrade() -> None:
    for table in DROPS:
        op.execute(f"DROP TABLE {table}")
