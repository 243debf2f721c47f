"""The unit of work of one attempt at a command: what it loaded and what it saves.

A use case loads through `get`, decides on the aggregates, and hands what it changed to
`save`; the command runner then commits them. Like cosmicpython's repository `seen`, the unit
of work records every aggregate the use case read (`seen`), which the runner needs: a decision
made on cached copies may have to be made again on current state (ledger.runner)."""

from __future__ import annotations

from typing import TypeVar

from eventsourcing.application import AggregateNotFoundError

from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import NotFoundError
from ledger.library import TunedApplication

A = TypeVar("A", bound=LedgerAggregate)


class UnitOfWork:
    """Loads aggregates from the cache (as copies) unless they are known `stale`, in which case
    from the store; the same id twice gives the same object (an identity map)."""

    def __init__(self, app: TunedApplication, stale: frozenset[str] = frozenset()) -> None:
        self._app = app
        self.stale = stale  # ids another writer moved on: loaded from the store
        self.seen: dict[str, None] = {}  # the id of every aggregate asked for, found or not
        self.saved: tuple[LedgerAggregate, ...] = ()
        self._loaded: dict[str, object] = {}

    def get(self, kind: type[A], aggregate_id: str) -> A:
        self.seen[aggregate_id] = None
        aggregate = self._loaded.get(aggregate_id)
        if aggregate is None:
            try:
                aggregate = self._app.load(aggregate_id, cached=aggregate_id not in self.stale)
            except AggregateNotFoundError:
                raise NotFoundError(f"{_noun(kind)} {aggregate_id} not found") from None
            self._loaded[aggregate_id] = aggregate
        if not isinstance(aggregate, kind):
            raise NotFoundError(f"{_noun(kind)} {aggregate_id} not found")
        return aggregate

    def save(self, aggregate: LedgerAggregate, *others: LedgerAggregate) -> None:
        """What the command commits: `aggregate` is the one it is about (its result's id)."""
        self.saved = (aggregate, *others)

    def forget_moved(self) -> None:
        """Drops the aggregates read before the command's locks were taken that another thread
        of this process has saved since (the cache holds a newer version)."""
        for aggregate_id, aggregate in list(self._loaded.items()):
            cached = self._app.cached(aggregate_id)
            version = getattr(aggregate, "version", None)
            if cached is not None and getattr(cached, "version", None) != version:
                del self._loaded[aggregate_id]

    # What the runner asks of it.

    @property
    def aggregate_id(self) -> str:
        if not self.saved:
            raise RuntimeError("the use case saved nothing")  # pragma: no cover
        return self.saved[0].id

    @property
    def touched(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.id for a in self.saved))

    @property
    def changed(self) -> bool:
        return any(a.pending_events for a in self.saved)

    @property
    def from_cache(self) -> bool:
        """Whether it read anything not known to be current (not loaded as stale)."""
        return not set(self.seen) <= self.stale


def _noun(kind: type[object]) -> str:
    return kind.__name__.lower()
