"""The `history` projection's table (issue #18): every event of every stream, its personal
fields masked, for the back office's history pages.

Its key is the event's store position (and `part`, for the events an upcaster split one stored
row into): rows arrive in that order, so the key's index only ever grows at its end. The
stream's index serves "one stream's events, newest first, paged by position" as one backward
index scan; being a plain index, a rebuild builds it once over the full shadow table
(projections.shadow). The table starts empty and the projector replays the store into it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS event_history (
            position bigint NOT NULL,
            part integer NOT NULL,
            stream_id text NOT NULL,
            version bigint NOT NULL,
            event text NOT NULL,
            recorded_at timestamptz NOT NULL,
            fields jsonb NOT NULL,
            PRIMARY KEY (position, part)
        )
        """
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS event_history_stream_idx "
        "ON event_history (stream_id, position, part)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS event_history")
    op.execute("DELETE FROM projection_positions WHERE name = 'history'")
    op.execute(
        "DELETE FROM projection_dead_letters WHERE projection IN ('history', 'history__rebuild')"
    )
