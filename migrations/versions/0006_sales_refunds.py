"""Sales read model that counts returned money: paid orders and their lines, replacing the
daily counters (a cancellation carries no amount, so counters could not subtract it).

The new tables start empty and the `sales` projection's position goes back to 0: the
projector replays the store into them, the same way a rebuild would.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE IF NOT EXISTS sales_orders (
    order_id text PRIMARY KEY,
    paid_on date NOT NULL,
    items bigint NOT NULL,
    total bigint NOT NULL,
    returned_on date
);
CREATE INDEX IF NOT EXISTS sales_orders_paid_on_idx ON sales_orders (paid_on);
CREATE INDEX IF NOT EXISTS sales_orders_returned_on_idx ON sales_orders (returned_on)
    WHERE returned_on IS NOT NULL;

CREATE TABLE IF NOT EXISTS sales_lines (
    order_id text NOT NULL,
    line_no integer NOT NULL,
    product_id text NOT NULL,
    quantity bigint NOT NULL,
    subtotal bigint NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
"""

OLD_TABLES = """
CREATE TABLE IF NOT EXISTS sales_daily (
    day date PRIMARY KEY,
    orders bigint NOT NULL,
    items bigint NOT NULL,
    gross bigint NOT NULL,
    refunds bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS product_sales_daily (
    product_id text NOT NULL,
    day date NOT NULL,
    quantity bigint NOT NULL,
    revenue bigint NOT NULL,
    PRIMARY KEY (product_id, day)
);
CREATE INDEX IF NOT EXISTS product_sales_daily_day_idx ON product_sales_daily (day);
"""

# Replays the projection from the start into its (new or restored) tables; its dead letters
# were about the old tables.
REPLAY = """
UPDATE projection_positions SET position = 0, updated_at = now(), rebuild_started_at = NULL,
    rebuild_position = NULL, rebuild_target = NULL WHERE name = 'sales';
DELETE FROM projection_dead_letters WHERE projection IN ('sales', 'sales__rebuild');
"""


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS sales_daily, product_sales_daily")
    op.execute(TABLES)
    op.execute(REPLAY)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS sales_orders, sales_lines")
    op.execute(OLD_TABLES)
    op.execute(REPLAY)
