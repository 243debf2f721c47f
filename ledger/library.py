"""The ledger's tuning of the `eventsourcing` library's `Application`: the thin layer under the
command runner. It overrides what profiling showed costly (`save`, `_take_snapshots`, the
projector function), and offers the runner what it needs of the library: cached copies, loads,
the cache's upkeep, store positions, and a connection of its own.

Persistence (the PostgreSQL factory, recorders and timeouts) is ledger.eventstore."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import Mapper, Recording

from ledger import appends
from ledger.domain.base import LedgerAggregate
from ledger.eventstore import CONNECT_TIMEOUT_SECONDS, Committed
from ledger.upcasting import UpcastingMapper


def mutate(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's `project_aggregate` without its per-event `isinstance` check against a
    runtime Protocol, which took a fifth of an API worker's CPU under order load (Python 3.11
    walks the protocol's attributes on every call)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


# Most aggregates remembered as moved on by other processes (ledger.appends); past it the
# oldest half is forgotten (only a hint: their next append conflicts, as without it).
MAX_MOVED = 20_000


class TunedApplication(Application[str]):
    """The library's `Application` with the ledger's overrides."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        # The newest version another process appended of each aggregate, as heard.
        self._moved: dict[str, int] = {}
        self._moved_lock = threading.Lock()
        self._closing = threading.Event()
        self._listener: appends.AppendListener | None = None

    def watch_appends(self) -> None:
        """Listens to the store's appends (ledger.appends), for a process whose commands share
        the store with other processes' (an API worker): another's append then makes the next
        command here read the new events of what it moved, rather than lose its append."""
        if self._listener is None:
            self._listener = appends.AppendListener(self.connect, self._closing, self.heard)
        self._listener.start()

    def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            self._listener.join(appends.RECONNECT_SECONDS * 2)
        super().close()

    def construct_mapper(self) -> Mapper[str]:
        """The library's mapper with the ledger's upcasters (ledger.upcasting) applied to
        every stored event and snapshot it reads, before the library's own."""
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=UpcastingMapper
        )

    def save(self, *objs: Any, **kwargs: Any) -> Committed:
        """The library's `save`, collecting events without its `isinstance` checks against
        runtime Protocols (two per object: an eighth of the writers' CPU under load), and
        taking snapshots from the saved aggregates in memory (`_take_snapshots`). Says when
        the transaction committed (before the snapshots)."""
        processing_event: ProcessingEvent[str] = ProcessingEvent()
        for obj in objs:
            if obj is None:
                continue
            if isinstance(obj, BaseAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.events.append(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = Committed(self._record(processing_event), time.monotonic())
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[str]) -> None:
        """Snapshots each aggregate whose new version reached its interval. The library loads
        that version back from the store (a snapshot and up to 99 events, decoded and
        replayed: a tenth of the writers' CPU); the aggregate just saved is that version
        already, in memory. Only a version passed within the same save (two events of one
        aggregate straddling the interval) still goes the library's way."""
        if self.snapshots is None:
            return
        snapshots = []
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            if aggregate is None:
                continue
            interval = self.snapshotting_intervals.get(type(aggregate))
            if not interval or event.originator_version % interval:
                continue
            if (
                isinstance(aggregate, LedgerAggregate)
                and aggregate.version == event.originator_version
            ):
                snapshots.append(type(aggregate).Snapshot.take(aggregate))
            else:
                self.take_snapshot(event.originator_id, event.originator_version, mutate)
        if snapshots:
            self.snapshots.put(snapshots)

    # What the command runner needs of the library.

    def load(self, aggregate_id: str, *, cached: bool = True) -> object:
        """The aggregate, from the cache as it is (`cached_copy`) if `cached` and there, else
        from the store; raises the library's AggregateNotFoundError."""
        return (cached and self.cached_copy(aggregate_id)) or self.repository.get(
            aggregate_id, projector_func=mutate
        )

    def cached_copy(self, aggregate_id: str) -> object | None:
        """A copy of the cached aggregate as it is, without the repository's fast-forward
        query for newer events, unless another process is known to have moved it on (then
        None: `load` fast-forwards it). Commands save every aggregate they read, so if another
        process changed it unheard the save conflicts and the retry loads it from the store;
        a rejection is re-decided on fresh state (ledger.runner). Reads outside commands keep
        using `repository.get`, which fast-forwards."""
        cached = self.cached(aggregate_id)
        if cached is None or self.moved_past(aggregate_id, getattr(cached, "version", 0)):
            return None
        # A copy, as the repository makes: a command that fails must not corrupt the cache.
        return copy.deepcopy(cached)

    def heard(self, payload: str | None) -> None:
        """An append notification (ledger.appends): remembers the versions it names, so the
        cached copies they pass are fast-forwarded before a command decides on them."""
        if not payload:
            return
        versions = appends.decode(payload)
        with self._moved_lock:
            for aggregate_id, version in versions.items():
                self._moved[aggregate_id] = max(version, self._moved.get(aggregate_id, 0))
            if len(self._moved) > MAX_MOVED:
                for aggregate_id in list(self._moved)[: MAX_MOVED // 2]:
                    del self._moved[aggregate_id]

    def moved_past(self, aggregate_id: str, version: int) -> bool:
        """Whether an append heard of (`heard`) holds a newer version than `version`; forgets
        it once asked about a version at least as new."""
        with self._moved_lock:
            moved = self._moved.get(aggregate_id)
            if moved is None:
                return False
            if moved > version:
                return True
            del self._moved[aggregate_id]
            return False

    def cached(self, aggregate_id: str) -> object | None:
        """The cached aggregate itself (never to be changed), or None."""
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            return cache.get(aggregate_id)
        except KeyError:
            return None

    def remember(self, aggregates: Sequence[LedgerAggregate]) -> None:
        """Caches the aggregates as just saved (the library caches on save only when it does
        not fast-forward), so the next command on them needs no query."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate in aggregates:
                cache.put(aggregate.id, aggregate)

    def position(self, recordings: Sequence[Recording[str]]) -> int:
        """The position of the last of these events. With none, the store's current position:
        a command that changed nothing confirmed state at or before it, so a reader waiting
        for that position sees what the answer describes."""
        if recordings:
            return max(r.notification.id for r in recordings)
        return self.recorder.max_notification_id() or 0

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of its own, not the pool's, that fails fast: while the server is down
        a pooled one is waited for far longer than a command may take to fail."""
        pool = self.recorder.datastore.pool  # type: ignore[attr-defined]
        return psycopg.connect(
            pool.conninfo, **{**pool.kwargs, "connect_timeout": CONNECT_TIMEOUT_SECONDS}
        )
