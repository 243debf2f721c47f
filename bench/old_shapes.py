"""A store of older shapes for the rebuild bench (issue #13): some of the stored events rewritten
as an earlier release would have written them, and the upcasters that read them as today's.

Two events changed twice in this imagined history: StockReserved was `StockHeld` and had no
`order_id`; OrderConfirmed was `OrderPaid` and had no `actor`. Each old event is version 1 of
its old name, and reads as today's through two upcasters: (old, 1) -> (old, 2) adds the field
with its default, (old, 2) -> (today's name, 1) renames it. In the filler's store (bench/fill.py)
these two are about two thirds of the events: every order reserves two products, every fifth is
confirmed. The rewrite happens in place, once every other row of the store section has been
measured (the write side, which has no upcasters registered, no longer reads the store)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
import psycopg

from ledger import contract
from ledger.upcasting import Payload, Upcaster

# Rows per fetch of the reading cursor.
FETCH = 10_000


@dataclass(frozen=True)
class OldShape:
    """Today's event `today` as stored under the name `old`, without the field `added`."""

    today: contract.EventType
    old: str
    added: str
    default: object

    @property
    def old_topic(self) -> str:
        return f"{self.today.aggregate}.{self.old}"

    def upcasters(self) -> tuple[Upcaster, Upcaster]:
        return (
            Upcaster(self.old, 1, self.old, 2, self._add_field()),
            Upcaster(self.old, 2, self.today.name, self.today.version, _unchanged),
        )

    def _add_field(self) -> Callable[[Payload], Payload]:
        added, default = self.added, self.default
        return lambda payload: {**payload, added: default}


def _unchanged(payload: Payload) -> Payload:
    return payload


OLD_SHAPES = (
    OldShape(contract.STOCK_RESERVED, "StockHeld", "order_id", ""),
    OldShape(contract.ORDER_CONFIRMED, "OrderPaid", "actor", "system"),
)


def upcasters() -> tuple[Upcaster, ...]:
    """Every upcaster the old shapes need (for `upcasting.registered`, where events are read)."""
    return tuple(upcaster for shape in OLD_SHAPES for upcaster in shape.upcasters())


def store_old_shapes(url: str) -> tuple[int, int]:
    """Rewrites every event of OLD_SHAPES in the store at `url` into its old shape, then lays
    the table out again in store order; returns (rewritten, total)."""
    with psycopg.connect(url) as write, psycopg.connect(url) as read:
        write.execute(
            "CREATE TEMP TABLE old_shapes (notification_id bigint PRIMARY KEY, topic text, "
            "state bytea) ON COMMIT DROP"
        )
        with write.cursor().copy("COPY old_shapes FROM STDIN") as copy:
            for shape in OLD_SHAPES:
                with read.cursor(name="old_shapes_read") as rows:
                    rows.itersize = FETCH
                    rows.execute(
                        "SELECT notification_id, state FROM ledger_events WHERE topic = %s",
                        (shape.today.topic,),
                    )
                    for position, state in rows:
                        payload = orjson.loads(state)
                        del payload[shape.added]
                        copy.write_row((position, shape.old_topic, orjson.dumps(payload)))
        updated = write.execute(
            "UPDATE ledger_events e SET topic = o.topic, state = o.state FROM old_shapes o "
            "WHERE e.notification_id = o.notification_id"
        ).rowcount
        write.commit()
        row = write.execute("SELECT count(*) FROM ledger_events").fetchone()
        total = int(row[0]) if row else 0
    with psycopg.connect(url, autocommit=True) as conn:
        # The update left a dead copy of every row it rewrote, and put the new ones at the end
        # of the table: a rebuild reading in store order would jump about the heap. Rewritten
        # in store order, the table is laid out as a store written that way would be.
        conn.execute("CLUSTER ledger_events USING ledger_events_notification_id_idx")
        conn.execute("ANALYZE ledger_events")
        # Flushed now, not by a checkpoint in the middle of the first rebuild measured.
        conn.execute("CHECKPOINT")
    return updated, total
