"""The catalog's category filter ignores case (`lower(category) = lower(%s)`): its index is on
lower(category), in place of the plain one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS products_status_lower_category_idx "
        "ON products (status, lower(category))"
    )
    op.execute("DROP INDEX IF EXISTS products_status_category_idx")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS products_status_category_idx ON products (status, category)"
    )
    op.execute("DROP INDEX IF EXISTS products_status_lower_category_idx")
