"""The version of the code that built each projection's tables (issue #13): a projector
applies events only to tables of its own projection version, and a rebuild's swap records the
version it built, so an old and a new release can run side by side while the new shape is
built beside the old one. Every projection was at version 1 before this column.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE projection_positions ADD COLUMN IF NOT EXISTS version integer NOT NULL "
        "DEFAULT 1"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE projection_positions DROP COLUMN IF EXISTS version")
