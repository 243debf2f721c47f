"""The event store: the `eventsourcing` library's PostgreSQL tables, with text aggregate ids.

The DDL is the library's own (PostgresApplicationRecorder, ORIGINATOR_ID_TYPE=text), so the
library's recorder reads and writes these tables exactly as if it had created them.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AUTOVACUUM = """
WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
)"""


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE ledger_events (
            originator_id text NOT NULL,
            originator_version bigint NOT NULL,
            topic text,
            state bytea,
            notification_id bigserial,
            PRIMARY KEY (originator_id, originator_version)
        ) {AUTOVACUUM}
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ledger_events_notification_id_idx "
        "ON ledger_events (notification_id ASC)"
    )
    op.execute(
        f"""
        CREATE TABLE ledger_snapshots (
            originator_id text NOT NULL,
            originator_version bigint NOT NULL,
            topic text,
            state bytea,
            PRIMARY KEY (originator_id, originator_version)
        ) {AUTOVACUUM}
        """
    )
    # The composite type the library's recorder binds its multi-row insert to.
    op.execute(
        "CREATE TYPE stored_event_text AS "
        "(originator_id text, originator_version bigint, topic text, state bytea)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE ledger_snapshots")
    op.execute("DROP TABLE ledger_events")
    op.execute("DROP TYPE stored_event_text")
