"""The `history` read model: every event of every stream (a product, an order, a user, an
email claim), in store order, as the back office shows an aggregate's history (issue #18).

One row per event today's code reads: at its store position and, when an upcaster split the
stored row, its `part`, so the split events stay apart. A dropped event (projections.events
DROPPED) has no row: today's code gives it neither a name nor fields, and the rebuild and the
live worker never read it (they ask the store for handled names only); its version's gap in
the stream is its trace. An event lacking a field of today's payload (an old shape no
upcaster reaches yet) is parked, as the projections that read that field park it.

No personal data is ever written here: every personal field of an event type
(contract.PERSONAL) reads as PERSONAL_MARK, whether the stored event sealed it or (v1) not.
So an erasure has nothing to remove from this table and the rows never change once written.
The ids in the rows (user ids, actors, email claims' keyed hashes) are the store's own
pseudonymous ids, not personal data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_type_hints

from ledger import contract
from projections.base import Projection
from projections.changes import Changes, Table
from projections.events import Event

EVENT_HISTORY = Table(
    "event_history",
    key=("position", "part"),
    columns=("position", "part", "stream_id", "version", "event", "recorded_at", "fields"),
)
# What a personal field reads as in the history, whatever the event's version and whether
# its person is erased or not.
PERSONAL_MARK = "[personal]"


class HistoryProjection(Projection):
    """One handler per event type of the contract, made by `_handler` below."""

    name = "history"
    tables = (EVENT_HISTORY,)


# A handler as the class holds it (projections.base binds it to the instance).
Method = Callable[[HistoryProjection, Event[Any], Changes], None]


def _handler(event_type: contract.EventType) -> Method:
    """The handler writing `event_type`'s events as history rows, its personal fields masked."""
    masked = dict.fromkeys(event_type.personal, PERSONAL_MARK)
    fields = frozenset(get_type_hints(event_type.payload))

    def handle(self: HistoryProjection, e: Event[Any], changes: Changes) -> None:
        if not e.data.keys() >= fields:
            # An old shape no upcaster brings to today's yet: parked, as the other projections
            # park it, so the retry after the upcaster's deploy shows it as today's code reads
            # it (a row written now would keep the old fields until a rebuild).
            missing = ", ".join(sorted(fields - e.data.keys()))
            raise KeyError(f"{e.name} v{e.version} lacks {missing}")
        changes.upsert(
            EVENT_HISTORY,
            {
                "position": e.position,
                "part": e.part,
                "stream_id": e.originator_id,
                "version": e.version,
                "event": e.name,
                "recorded_at": e.timestamp,
                # Handlers only read `data`: the row may hold it as it is.
                "fields": {**e.data, **masked} if masked else e.data,
            },
        )

    # The contract test holds every handler to its event's payload type, as a written one.
    event: Any = Event  # subscripted with a value, which mypy cannot type
    handle.__annotations__ = {"e": event[event_type.payload], "changes": Changes, "return": None}
    handle.__name__ = handle.__qualname__ = f"on_{event_type.name}"
    return handle


for _event_type in contract.EVENT_TYPES:
    setattr(HistoryProjection, f"on_{_event_type.name}", _handler(_event_type))
