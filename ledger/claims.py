"""EmailClaim ids (issue #14): a keyed hash of the normalised email, never the email itself.

The hash key is the data key of the reserved subject personal.EMAIL_INDEX, so rotating the
master key changes no claim id. Stores written before this held claims named
`email:<address>`; `upgrade` renames them (events, snapshots, command records) in place, once,
as part of `ledger db upgrade`."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import tuple_row

from ledger import personal
from ledger.contract import EMAIL_CLAIM_ID_PREFIX
from ledger.domain import EmailClaim
from ledger.domain.users import normalise_email

# The ids of claims made before emails were hashed: `email:` and the address itself.
_PLAIN = "SELECT DISTINCT originator_id FROM ledger_events WHERE originator_id LIKE 'email:%@%'"
_RENAMES = (
    "UPDATE ledger_events SET originator_id = %(new)s WHERE originator_id = %(old)s",
    "UPDATE ledger_snapshots SET originator_id = %(new)s WHERE originator_id = %(old)s",
    "UPDATE command_ids SET touched = array_replace(touched, %(old)s, %(new)s), "
    "aggregate_id = CASE WHEN aggregate_id = %(old)s THEN %(new)s ELSE aggregate_id END "
    "WHERE %(old)s = ANY(touched)",
)


def claim_id(index_key: bytes, email: str) -> str:
    """The id of the EmailClaim of `email`."""
    return EmailClaim.id_for(personal.email_digest(index_key, normalise_email(email)))


def upgrade(conn: psycopg.Connection[Any], keys: personal.KeyRing) -> int:
    """Renames every plain-text claim to its hashed id, in one transaction; how many."""
    cur = conn.cursor(row_factory=tuple_row)
    with conn.transaction():
        plain = [r[0] for r in cur.execute(_PLAIN).fetchall()]
        if not plain:
            return 0
        index_key = keys.key_for(conn, personal.EMAIL_INDEX)
        for old in plain:
            new = claim_id(index_key, old.removeprefix(EMAIL_CLAIM_ID_PREFIX))
            for statement in _RENAMES:
                cur.execute(statement, {"old": old, "new": new})
    return len(plain)
