"""What the start-up schema check has seen (issue #13): every stored (topic, class_version)
pair in `event_versions_seen`, and in the one row of `event_versions_scan` the notification id
the events are scanned through, so that each check parses only the events stored since.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE IF NOT EXISTS event_versions_seen ("
        "topic text NOT NULL, version int NOT NULL, PRIMARY KEY (topic, version))"
    )
    op.execute(
        "CREATE TABLE IF NOT EXISTS event_versions_scan ("
        "only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), "
        "checked_through bigint NOT NULL DEFAULT 0)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS event_versions_scan")
    op.execute("DROP TABLE IF EXISTS event_versions_seen")
