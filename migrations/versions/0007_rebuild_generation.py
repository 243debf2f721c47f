"""A generation per projection, bumped by each rebuild's swap, so caches keyed by it drop
every body read from the table the rebuild replaced (even when the position is unchanged).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE projection_positions "
        "ADD COLUMN IF NOT EXISTS generation bigint NOT NULL DEFAULT 0"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE projection_positions DROP COLUMN IF EXISTS generation")
