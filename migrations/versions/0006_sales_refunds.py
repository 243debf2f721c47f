"""Sales and top-product read models that count returned money.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # placeholder: filled in by the change that owns this revision


def downgrade() -> None:
    op.execute("SELECT 1")
