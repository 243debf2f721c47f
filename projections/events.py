"""Stored events as the projectors see them: decoded straight from the store's rows.

Projectors do not rebuild domain objects; they read each event's JSON state, which is both
faster and keeps the read side independent of the domain's Python classes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from ledger import upcasting

# The columns every reader selects, in this order.
EVENT_COLUMNS = "notification_id, originator_id, originator_version, topic, state"


# The payload's type: a TypedDict of ledger.contract for the event a handler takes.
P = TypeVar("P")


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made its
# construction 4x slower, and a rebuild constructs one per stored event. Handlers only read.
@dataclass(slots=True)
class Event(Generic[P]):
    """One stored event: its store position, aggregate, version, name, time and fields
    (`data`, typed by the handler that takes it: `Event[contract.OrderPlaced]`)."""

    position: int
    originator_id: str
    version: int
    name: str
    timestamp: datetime
    data: P


def decode(row: tuple[int, str, int, str, bytes | memoryview]) -> Event[Any]:
    """Turns a `ledger_events` row (EVENT_COLUMNS) into an Event, of today's shape: the
    registered upcasters (ledger.upcasting) applied to its (name, class_version)."""
    position, originator_id, version, topic, state = row
    # orjson reads bytes and memoryviews alike, without a copy.
    data: dict[str, Any] = orjson.loads(state)
    stamp = data.pop("timestamp")
    name = topic.rpartition(".")[2]
    if upcasting.UPCASTERS:  # empty in production today: no lookup per event
        class_version = data.pop(upcasting.VERSION_FIELD, 1)
        if upcasting.needs_upcast(name, class_version):
            name, _, data = upcasting.upcast(name, class_version, data)
    else:
        data.pop(upcasting.VERSION_FIELD, None)
    return Event(
        position,
        originator_id,
        version,
        name,
        datetime.fromisoformat(stamp["_data_"] if type(stamp) is dict else stamp),
        data,
    )
