"""Zero-downtime rebuilds: replay the whole store into shadow tables, then swap them in.

The live projection keeps running while the shadow fills. This module runs the steps in
order; each lives in its own module:

* the rebuild lock (projections.rebuild_lock): one rebuild per projection at a time, across
  processes and hosts, a second one refused (RebuildRunningError) before it touches anything;
  every transaction that writes the shadow tables checks, before it commits, that the lock is
  still held, so a rebuild whose lock connection died cannot swap in tables another one
  recreated;
* the shadow tables (projections.shadow), created empty, their plain indexes built once full;
* the catch-up (`_Fill`, a step of projections.tracking per batch, each batch committed with
  its progress) and its COPY loading (projections.shadow_load);
* the swap (projections.swap): the last few events, the renames, the position and the
  generation, in one transaction that waits for the live tables at most SWAP_LOCK_TIMEOUT per
  attempt and retries behind long readers until `swap_timeout` (SwapTimeoutError)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from ledger.logs import get_logger
from projections import positions, shadow, store
from projections.applier import Applied
from projections.base import Projection
from projections.events import Event
from projections.rebuild_lock import (
    LOCK_PREFIX,
    RebuildError,
    RebuildLock,
    RebuildLockLostError,
    RebuildRunningError,
    exclusive,
)
from projections.shadow import SHADOW
from projections.shadow_load import ShadowLoader
from projections.store import Conn
from projections.swap import SWAP_LOCK_TIMEOUT, SWAP_TIMEOUT, SwapTimeoutError, swap_in
from projections.tracking import Batch, advance

__all__ = [
    "LOCK_PREFIX",
    "REBUILD_BATCH",
    "SHADOW",
    "SWAP_LOCK_TIMEOUT",
    "SWAP_TIMEOUT",
    "Progress",
    "RebuildError",
    "RebuildLock",
    "RebuildLockLostError",
    "RebuildResult",
    "RebuildRunningError",
    "SwapTimeoutError",
    "abandon",
    "exclusive",
    "rebuild",
]

REBUILD_BATCH = 20_000
log = get_logger("ledger.rebuild")


@dataclass(frozen=True)
class Progress:
    projection: str
    done: int
    total: int
    events_per_second: float

    @property
    def eta_seconds(self) -> float | None:
        if self.events_per_second <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.events_per_second)


@dataclass(frozen=True)
class RebuildResult:
    projection: str
    events: int
    position: int
    seconds: float
    parked: int
    # How many times the swap tried for the live tables' lock (1: at once).
    swap_attempts: int = 1

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def rebuild(
    database_url: str,
    projection: Projection,
    *,
    progress: Callable[[Progress], None] | None = None,
    batch_size: int = REBUILD_BATCH,
    lock: RebuildLock | None = None,
    lock_timeout: float = SWAP_LOCK_TIMEOUT,
    swap_timeout: float = SWAP_TIMEOUT,
) -> RebuildResult:
    """Rebuilds `projection` from the whole store and swaps the result in atomically.

    The rebuild replays every event of the store, but asks the database only for the events
    the projection handles (the others are neither sent nor decoded); `events` in the result
    counts the whole store it went through, as the position does.

    It takes the projection's rebuild lock (RebuildRunningError if another rebuild holds it),
    unless the caller holds it already in `lock` (`exclusive`, for several at once). A rebuild
    that fails cleans up its shadow tables and progress while it still holds the lock."""
    if lock is None:
        with exclusive(database_url, [projection.name]) as held:
            return rebuild(
                database_url, projection, progress=progress, batch_size=batch_size, lock=held,
                lock_timeout=lock_timeout, swap_timeout=swap_timeout,
            )  # fmt: skip
    if projection.name not in lock.names:
        raise ValueError(f"the lock given does not hold the rebuild of {projection.name}")
    try:
        return _rebuild(
            database_url, projection, lock, progress, batch_size, lock_timeout, swap_timeout
        )
    except BaseException:
        try:
            # On the lock's connection: if that is gone, so is the lock, and the shadow
            # tables may be another rebuild's now.
            abandon(lock.conn, projection)
        except Exception as exc:  # the original failure is the one to report
            log.warning("rebuild cleanup failed", projection=projection.name, error=str(exc))
        raise


def _rebuild(
    database_url: str,
    projection: Projection,
    lock: RebuildLock,
    progress: Callable[[Progress], None] | None,
    batch_size: int,
    lock_timeout: float,
    swap_timeout: float,
) -> RebuildResult:
    started = time.perf_counter()
    name = projection.name
    with psycopg.connect(database_url, application_name="ledger rebuild") as conn:
        # Nothing reads the shadow tables before the swap, and the swap's own commit is
        # synchronous (flushing the WAL of every batch before it), so the batches need not
        # wait for their WAL to reach the disk.
        conn.execute("SET synchronous_commit TO off")
        conn.commit()
        with conn.transaction():
            positions.lock(conn, name)
            positions.start_rebuild(conn, name)
            layout = shadow.create(conn, projection)
            lock.check(conn, name)
        loader = ShadowLoader(projection, layout.types)
        fill = _Fill(conn, projection, lock, loader, batch_size, progress, started)
        fill.catch_up()
        with conn.transaction():
            shadow.build_indexes(conn, layout)  # once, over the whole table: far cheaper
            lock.check(conn, name)
        attempts = swap_in(conn, projection, fill, lock, lock_timeout, swap_timeout)
    seconds = time.perf_counter() - started
    return RebuildResult(name, fill.events, fill.position, seconds, loader.parked, attempts)


class _Fill:
    """Follows the store into the shadow tables, batch by batch, from where it left off: a
    Tracked (projections.tracking) whose position is the shadow's, held here (the rebuild
    lock keeps other writers off the shadow tables), saved as the rebuild's progress."""

    def __init__(
        self,
        conn: Conn,
        projection: Projection,
        lock: RebuildLock,
        loader: ShadowLoader,
        batch_size: int,
        progress: Callable[[Progress], None] | None,
        started: float,
    ) -> None:
        self.conn, self.projection, self.loader = conn, projection, loader
        self.rebuild_lock = lock
        self.batch_size, self.progress, self.started = batch_size, progress, started
        self.names = projection.event_names
        # The shadow's position; the store events it went through; the head last read.
        self.position, self.events, self.head = 0, 0, 0
        self._record = True

    def catch_up(self, *, in_transaction: bool = False) -> None:
        """Up to the store's head: each batch committed on its own (its progress recorded),
        or all of them inside the caller's transaction."""
        self._record = not in_transaction
        while True:
            if in_transaction:
                done = advance(self.conn, self, self.batch_size)
            else:
                with self.conn.transaction():
                    done = advance(self.conn, self, self.batch_size)
                if self.progress:
                    rate = self.events / max(time.perf_counter() - self.started, 1e-9)
                    self.progress(Progress(self.projection.name, self.position, self.head, rate))
            if done.read < self.batch_size:
                return

    def checkpoint(self) -> Callable[[], None]:
        position, events, parked = self.position, self.events, self.loader.parked

        def restore() -> None:
            self.position, self.events, self.loader.parked = position, events, parked

        return restore

    # The tracking protocol's stages.

    def lock(self, conn: Conn) -> int:
        return self.position

    def read(self, conn: Conn, position: int, limit: int) -> Batch:
        """Up to `limit` handled events after `position`; the step reaches the last one's
        position, or the head when fewer came (every event up to it was read)."""
        self.head = store.head(conn)
        events = store.read_events(conn, position, limit, upto=self.head, names=self.names)
        return Batch(events, events[-1].position if len(events) == limit else self.head)

    def apply(self, conn: Conn, events: list[Event[Any]]) -> Applied:
        return self.loader.apply(conn, events)

    def save(self, conn: Conn, position: int) -> None:
        self.events += store.count_events(conn, self.position, position)
        self.position = position
        if self._record:
            positions.record_rebuild(conn, self.projection.name, position, self.head)
            self.rebuild_lock.check(conn, self.projection.name)


def abandon(conn: Conn, projection: Projection) -> None:
    """Cleans up after a rebuild that did not finish (its shadow tables and progress). Only
    the holder of the projection's rebuild lock may: `rebuild` does, on the lock's connection."""
    with conn.transaction():
        shadow.drop(conn, projection)
        positions.clear_rebuild(conn, projection.name)
