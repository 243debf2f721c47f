"""The aggregate base for this shop: ids are the public, prefixed strings (`prod_1`, `ord_…`).

The library's own `Aggregate` uses UUIDs; these classes are the same shape with text ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import (
    BaseAggregate,
    CanCreateTimestamp,
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
    MetaDomainEvent,
)


class LedgerEvent(CanMutateAggregate[str], CanCreateTimestamp, metaclass=MetaDomainEvent):
    """Every event of a ledger aggregate."""

    originator_id: str
    originator_version: int
    timestamp: datetime


class LedgerCreated(CanInitAggregate[str], LedgerEvent):
    """The first event of a ledger aggregate."""

    originator_topic: str


class LedgerSnapshot(CanSnapshotAggregate[str], CanCreateTimestamp, metaclass=MetaDomainEvent):
    """A snapshot of a ledger aggregate, so long histories load fast."""

    originator_id: str
    originator_version: int
    timestamp: datetime
    # `take()` passes the aggregate's topic and state: without these fields every save that
    # reached a snapshot interval raised TypeError after its events had committed.
    topic: str
    state: dict[str, Any]


class LedgerAggregate(BaseAggregate[str]):
    """Base of Product, Order, User and EmailClaim."""

    class Event(LedgerEvent):
        pass

    class Created(Event, LedgerCreated):
        pass

    Snapshot = LedgerSnapshot
