"""Idempotency claims as leases, keyed hashes, and purge indexes.

`lease_until` bounds an in-progress claim: a crashed request's key is taken over once it
lapses. Existing request hashes are unsalted SHA-256 digests of raw bodies that may hold
passwords, so they are blanked: a retry with such an old key then never matches (422
IDEMPOTENCY_KEY_REUSED) instead of replaying or running twice, and the rows age out within
24 h. Old in-progress claims get a lapsed lease so they can be taken over.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS lease_until timestamptz")
    op.execute("UPDATE idempotency_keys SET request_hash = '' WHERE length(request_hash) = 64")
    op.execute(
        "UPDATE idempotency_keys SET lease_until = now() "
        "WHERE completed_at IS NULL AND lease_until IS NULL"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS lease_until")
