"""Personal data (issue #14): one data key per person, wrapped by the master key, and the
users table's email unique only among people not erased (each erased row reads "[erased]").

A row with `wrapped` NULL and `erased_at` set is a tombstone: that person was erased, their
sealed data can never be read again, and no new key is made for them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS personal_keys (
            subject_id text PRIMARY KEY,
            wrapped bytea,
            master_id text,
            created_at timestamptz NOT NULL DEFAULT now(),
            erased_at timestamptz,
            CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
        )
        """
    )
    op.execute("ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_key")
    op.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS users_email_live_idx ON users (email) "
        "WHERE email <> '[erased]'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS users_email_live_idx")
    op.execute("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)")
    op.execute("DROP TABLE IF EXISTS personal_keys")
