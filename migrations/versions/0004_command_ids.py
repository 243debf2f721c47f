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
    # IF NOT EXISTS: an existing store gains the table with no rows (commands before this
    # revision have no ids to resolve), and a rerun changes nothing.
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS command_ids (
            command_id text PRIMARY KEY,
            aggregate_id text NOT NULL,
            touched text[] NOT NULL,
            event_ids text[] NOT NULL,
            event_versions bigint[] NOT NULL,
            committed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX IF NOT EXISTS command_ids_committed_at ON command_ids (committed_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS command_ids")
