"""Stored events as the projectors see them: decoded straight from the store's rows.

Projectors do not rebuild domain objects; they read each event's JSON state, which is both
faster and keeps the read side independent of the domain's Python classes."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger import contract, personal, upcasting
from ledger.personal import KeyLookup

# The columns every reader selects, in this order.
EVENT_COLUMNS = "notification_id, originator_id, originator_version, topic, state"


# The payload's type: a TypedDict of ledger.contract for the event a handler takes.
P = TypeVar("P")


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made its
# construction 4x slower, and a rebuild constructs one per stored event. Handlers only read.
@dataclass(slots=True)
class Event(Generic[P]):
    """One stored event: its store position, aggregate, version, name, time and fields
    (`data`, typed by the handler that takes it: `Event[contract.OrderPlaced]`), and `part`:
    which of the events its stored row stands for it is (0; 0, 1, ... when an upcaster split
    the row, so the parts, sharing a position and version, stay apart)."""

    position: int
    originator_id: str
    version: int
    name: str
    timestamp: datetime
    data: P
    part: int = 0


# The name an event reads as when an upcaster drops it: no projection handles it, and it still
# holds its position (a reader moves past it).
DROPPED = "(dropped)"

Row = tuple[int, str, int, str, bytes | memoryview]
# The events of a batch whose personal fields are sealed: type, person, payload.
Sealed = list[tuple[contract.EventType, str, dict[str, Any]]]


def decode_rows(
    rows: Iterable[Row], keys: KeyLookup | None = None, only: Collection[str] | None = None
) -> list[Event[Any]]:
    """Turns `ledger_events` rows (EVENT_COLUMNS) into Events of today's shape; with `only`
    (upcasting.stored_names of what a reader handles), only the rows of those stored names,
    so a reader neither parses nor unseals what it would skip.

    First each sealed personal field is opened with its person's data key, fetched for the
    whole batch in one `keys` call, or read as its erased value when the person's key is gone
    (ledger.personal); then the registered upcasters (ledger.upcasting) are applied to each
    row's (name, class_version). A row an upcaster splits gives several events, each at the
    row's position and version, numbered by `part`; a dropped row gives one event named
    DROPPED."""
    stored: list[tuple[int, str, int, str, int, datetime, dict[str, Any]]] = []
    sealed: Sealed = []
    for position, originator_id, version, topic, state in rows:
        name = topic.rpartition(".")[2]
        if only is not None and name not in only:
            continue
        # orjson reads bytes and memoryviews alike, without a copy.
        data: dict[str, Any] = orjson.loads(state)
        stamp = _time(data.pop("timestamp"))
        stored_version = data.pop(upcasting.VERSION_FIELD, 1)
        personal = contract.PERSONAL.get(name)
        if personal is not None and personal.sealed(stored_version):
            subject = originator_id if personal.subject is None else data[personal.subject]
            sealed.append((personal, subject, data))
        stored.append((position, originator_id, version, name, stored_version, stamp, data))
    if sealed:
        _open(sealed, keys)
    if not upcasting.UPCASTERS:
        return [Event(p, o, v, n, t, d) for p, o, v, n, _, t, d in stored]
    events: list[Event[Any]] = []
    for position, originator_id, version, name, stored_version, stamp, data in stored:
        if not upcasting.needs_upcast(name, stored_version):
            events.append(Event(position, originator_id, version, name, stamp, data))
            continue
        today = upcasting.expand(name, stored_version, data)
        if not today:
            events.append(Event(position, originator_id, version, DROPPED, stamp, {}))
        events += [
            Event(position, originator_id, version, n, stamp, d, part)
            for part, (n, _, d) in enumerate(today)
        ]
    return events


def _open(sealed: Sealed, keys: KeyLookup | None) -> None:
    """Replaces each sealed field by its value (or its erased value) in place."""
    if keys is None:
        raise RuntimeError("events with sealed personal data read without their keys")
    ciphers = {subject: AESGCM(key) for subject, key in keys({s for _, s, _ in sealed}).items()}
    for event_type, subject, data in sealed:
        cipher = ciphers.get(subject)
        for field, erased in event_type.personal.items():
            data[field] = personal.unseal(cipher, subject, field, data[field], erased)


def _time(stamp: Any) -> datetime:
    """A stored timestamp: ISO text (or the library's older {"_data_": ...} form)."""
    return datetime.fromisoformat(stamp["_data_"] if type(stamp) is dict else stamp)
