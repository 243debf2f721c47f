"""Stored events as the projectors see them: decoded straight from the store's rows.

Projectors do not rebuild domain objects; they read each event's JSON state, which is both
faster and keeps the read side independent of the domain's Python classes."""

from __future__ import annotations

from collections.abc import Iterable
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


# The name an event reads as when an upcaster drops it: no projection handles it, and it still
# holds its position (a reader moves past it).
DROPPED = "(dropped)"

Row = tuple[int, str, int, str, bytes | memoryview]


def decode_rows(rows: Iterable[Row]) -> list[Event[Any]]:
    """Turns `ledger_events` rows (EVENT_COLUMNS) into Events of today's shape: the registered
    upcasters (ledger.upcasting) applied to each row's (name, class_version). A row an upcaster
    splits gives several events, each at the row's position and version; a dropped row gives
    one event named DROPPED."""
    if not upcasting.UPCASTERS:  # empty in production today: no lookup per event
        return [_todays(row) for row in rows]
    events: list[Event[Any]] = []
    for position, originator_id, version, topic, state in rows:
        data: dict[str, Any] = orjson.loads(state)
        stamp = _time(data.pop("timestamp"))
        stored = (topic.rpartition(".")[2], data.pop(upcasting.VERSION_FIELD, 1))
        today = upcasting.expand(*stored, data)
        if not today:
            events.append(Event(position, originator_id, version, DROPPED, stamp, {}))
        events += [Event(position, originator_id, version, n, stamp, d) for n, _, d in today]
    return events


def _todays(row: Row) -> Event[Any]:
    """A row of today's shape (no upcaster registered)."""
    position, originator_id, version, topic, state = row
    # orjson reads bytes and memoryviews alike, without a copy.
    data: dict[str, Any] = orjson.loads(state)
    stamp = data.pop("timestamp")
    data.pop(upcasting.VERSION_FIELD, None)
    return Event(position, originator_id, version, topic.rpartition(".")[2], _time(stamp), data)


def _time(stamp: Any) -> datetime:
    """A stored timestamp: ISO text (or the library's older {"_data_": ...} form)."""
    return datetime.fromisoformat(stamp["_data_"] if type(stamp) is dict else stamp)
