"""What an erasure does besides deleting the person's key (ledger.personal) and recording it
(UserErased): every other copy of their personal data the ledger wrote goes.

* Events written before personal fields were sealed (a version below the type's
  `sealed_from`) hold them in plain text: those fields are overwritten with their erased value
  in place. The only edit the store ever sees, and the one the law asks for.
* Snapshots of the person's user and orders are deleted (a cache: aggregates load from events).
* Refresh tokens are deleted: no session of theirs can be renewed.
* Idempotency records of their requests (the stored responses hold their name, email or
  address) are deleted: a retry of such a request runs it again, and is refused.
* Dead letters of their events keep their position, their error text is dropped.

The person's orders are found in the `orders` read table: an order their data key sealed needs
nothing here, and every order written before sealing is long projected."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from psycopg.rows import tuple_row

from ledger import contract

Conn = psycopg.Connection[Any]


def forget(conn: Conn, user_id: str) -> None:
    """Removes every readable copy of `user_id`'s personal data but the read tables' (their
    projections do that on UserErased). Idempotent."""
    cur = conn.cursor(row_factory=tuple_row)
    orders = [r[0] for r in cur.execute(_ORDERS, (user_id,)).fetchall()]
    owners = [user_id, *orders]
    for event_type in contract.PERSONAL.values():
        subject = "originator_id" if event_type.subject is None else event_type.subject
        aggregates = [user_id] if event_type.subject is None else orders
        if aggregates:
            cur.execute(
                _REDACT,
                {
                    "erased": orjson.dumps(dict(event_type.personal)).decode(),
                    "topic": event_type.topic,
                    "ids": aggregates,
                    "sealed_from": event_type.sealed_from,
                    "subject_field": subject,
                    "user_id": user_id,
                },
            )
    cur.execute("DELETE FROM ledger_snapshots WHERE originator_id = ANY(%s)", (owners,))
    cur.execute("DELETE FROM refresh_tokens WHERE user_id = %s", (user_id,))
    cur.execute(_IDEMPOTENCY, (user_id, user_id))
    cur.execute(_DEAD_LETTERS, (owners,))


_ORDERS = "SELECT id FROM orders WHERE customer_id = %s"
# The rows of the type, of a version before sealing, of these aggregates, whose subject is the
# user (the aggregate itself, or a payload field): their personal fields set to erased values.
_REDACT = """
UPDATE ledger_events SET state = convert_to(
    (convert_from(state, 'UTF8')::jsonb || %(erased)s::jsonb)::text, 'UTF8')
WHERE originator_id = ANY(%(ids)s) AND topic = %(topic)s
  AND coalesce((convert_from(state, 'UTF8')::jsonb ->> 'class_version')::int, 1) < %(sealed_from)s
  AND (%(subject_field)s = 'originator_id'
       OR convert_from(state, 'UTF8')::jsonb ->> %(subject_field)s = %(user_id)s)
"""
# A signed-in user's requests are scoped by their id; a registration's response holds it.
_IDEMPOTENCY = (
    "DELETE FROM idempotency_keys WHERE scope = %s "
    "OR position(convert_to(%s, 'UTF8') IN coalesce(body, ''::bytea)) > 0"
)
_DEAD_LETTERS = (
    "UPDATE projection_dead_letters SET error = '[erased]' WHERE originator_id = ANY(%s)"
)
