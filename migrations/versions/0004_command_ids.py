"""Command ids stored with their events, so a retry after a lost COMMIT reply can tell whether its command committed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # placeholder: filled in by the change that owns this revision


def downgrade() -> None:
    op.execute("SELECT 1")
