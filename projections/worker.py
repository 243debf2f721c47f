"""Live projector workers: follow the store and keep each projection's tables up to date.

* Push-driven: one connection per process (`Appends`) LISTENs on the channel the store's
  recorder NOTIFYs on every append and wakes at once the workers whose projection reads the
  aggregates it moved (the others a little later, `_Wake`), with a polling fallback, so a
  dropped listen connection or a lost notification costs at most one poll interval, never a
  stall.
* Batches: when there is a backlog, up to `batch_size` events are applied per transaction;
  under load, a step gathers the appends of up to GATHER_SECONDS since the last one began, the
  longer the more events the worker read in the last second (`_Pace`), and no longer once
  FULL_STEP_AGGREGATES of its aggregates have moved (`_Wake`).
* One active instance per projection, on any number of hosts: a session advisory lock (the
  lease, whose holder names itself by host and pid); a second copy waits as a hot standby and
  takes over within a second when the first one's process dies (the kernel closes its
  session), and within about 5 s when its host does (the server's TCP keepalives, set per
  session, end a session whose peer went silent).
* Only on tables of its own version (`Projection.version`): beside a release whose projection
  has another version it stands by, and hands over when a rebuild swaps in its version's
  tables, so an old and a new release can run side by side through a read-model change.
* Reconnects by itself after the database restarts; stops cleanly on SIGTERM/SIGINT, letting
  the batch in flight commit or roll back."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import psycopg

from ledger.appends import AppendListener, aggregates_moved
from ledger.choices import LIVE_BATCH, POLL_SECONDS
from ledger.logs import get_logger
from ledger.metrics import (
    PROJECTION_DEAD_LETTERS,
    PROJECTION_EVENTS,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
    PROJECTION_POSITION,
)
from ledger.slow_queries import TimedCursor
from projections import positions, store
from projections.applier import Applier
from projections.base import Projection
from projections.status import lease_holder_name, read_status
from projections.tracking import step

log = get_logger("ledger.projector")

LEADERSHIP_RETRY_SECONDS = 1.0
GAUGE_REFRESH_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 5.0
# How soon a worker steps after an append of events its projection does not read (_Wake).
PASS_OVER_SECONDS = 0.1
# Under load, the least time from one step's start to the next's: at 50 orders a second, one
# step per order made a transaction per projection per order, the projector's and half the
# database's work; a reader waits up to this much longer for its write. A worker that read
# FULL_GATHER_EVENTS_PER_SECOND or more in the last second gathers this long, one that read
# fewer a share of it (`_Pace`): a lone client's next command is not held up as long.
GATHER_SECONDS = 0.1
FULL_GATHER_EVENTS_PER_SECOND = 200
# However long the gather, a step is due at once when this many aggregates its projection
# reads have moved since the last step: at 500 orders a second a step every 20 ms, keeping
# the live lag low, and no step applies fewer commands than this unless the gather ran out.
FULL_STEP_AGGREGATES = 10
PACE_WINDOW_SECONDS = 1.0
LEASE_KEEPALIVES = "-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3"


class Worker:
    """Keeps one projection up to date until `stop` is set."""

    def __init__(
        self,
        database_url: str,
        projection: Projection,
        stop: threading.Event,
        *,
        batch_size: int = LIVE_BATCH,
        poll_seconds: float = POLL_SECONDS,
        appends: Appends | None = None,
    ) -> None:
        self.url = database_url
        self.projection = projection
        self.stop = stop
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.applier = Applier(projection)
        self.leading = threading.Event()
        self._gauges_at = 0.0
        self._standing_by_for: int | None = None  # the other version we last said we wait on
        # The process's shared listener; a worker on its own listens by itself.
        self._appends = appends or Appends(database_url, stop)

    @property
    def name(self) -> str:
        return self.projection.name

    def run(self) -> None:
        """Leads (or waits to lead) and follows the store; survives database restarts."""
        backoff = 0.2
        while not self.stop.is_set():
            try:
                with self._connect(autocommit=True) as lock_conn:
                    if not self._wait_for_leadership(lock_conn):
                        return
                    log.info("projector leading", projection=self.name)
                    self.leading.set()
                    backoff = 0.2
                    self._follow(lock_conn)
            except positions.VersionMismatchError as exc:
                # A rebuild swapped in another version's tables: hand over (the lock
                # connection is closed) and stand by until they are this version's again.
                self._stand_by(exc.tables)
            except psycopg.OperationalError as exc:
                log.warning("projector lost the database", projection=self.name, error=str(exc))
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:  # a worker must never die silently: log, back off, go again
                log.exception("projector failed", projection=self.name)
                self.stop.wait(MAX_BACKOFF_SECONDS)
            finally:
                self.leading.clear()

    def _connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        return _connect(self.url, autocommit=autocommit)

    def _wait_for_leadership(self, lock_conn: psycopg.Connection[Any]) -> bool:
        """Takes the projection's lock once its tables are of this code's version."""
        while not self.stop.is_set():
            built = positions.built_version(lock_conn, self.name)
            if built is not None and built != self.projection.version:
                self._stand_by(built)
            elif store.try_lead(lock_conn, self.name):
                self._standing_by_for = None
                return True
            self.stop.wait(LEADERSHIP_RETRY_SECONDS)
        return False

    def _stand_by(self, built: int) -> None:
        """Says once per version of the tables why this worker does not apply events."""
        if self._standing_by_for != built:
            self._standing_by_for = built
            mismatch = positions.VersionMismatchError(self.name, built, self.projection.version)
            log.warning("projector standing by", projection=self.name, reason=str(mismatch))

    def _follow(self, lock_conn: psycopg.Connection[Any]) -> None:
        with self._connect() as conn:
            listener = self._appends.subscribe(self.projection.aggregates)
            pace = _Pace()
            checked_at = time.monotonic()
            try:
                while not self.stop.is_set():
                    started = time.monotonic()
                    done = step(conn, self.applier, self.batch_size)
                    if done.read:
                        PROJECTION_EVENTS.labels(self.name).inc(done.applied)
                        if done.parked:
                            log.error("events parked", projection=self.name, count=done.parked)
                    self._refresh_gauges(conn)
                    if done.read == self.batch_size:
                        continue  # a backlog: keep going without waiting
                    # Our lock connection must still be alive, or another worker may lead
                    # (who would wait for our position lock: never a double apply). Once a
                    # poll interval is enough; every wake-up made it a round trip per event.
                    now = time.monotonic()
                    if now - checked_at >= self.poll_seconds:
                        lock_conn.execute("SELECT 1")
                        checked_at = now
                    # Busy (this step read events): the next one gathers what arrives
                    # within the pace's gather of this one's start, rather than one
                    # transaction per command. Idle, an append is applied at once.
                    gather = pace.gather(started, done.read)
                    listener.wait(self.poll_seconds, started + gather if done.read else 0)
            finally:
                self._appends.unsubscribe(listener)

    def _refresh_gauges(self, conn: psycopg.Connection[Any]) -> None:
        now = time.monotonic()
        if now - self._gauges_at < GAUGE_REFRESH_SECONDS:
            return
        self._gauges_at = now
        with conn.transaction():
            # Only this worker's projection: each worker publishes its own gauges.
            for status in read_status(conn, [self.name]):
                PROJECTION_POSITION.labels(self.name).set(status.position)
                PROJECTION_LAG_EVENTS.labels(self.name).set(status.lag_events)
                PROJECTION_LAG_SECONDS.labels(self.name).set(status.lag_seconds)
                PROJECTION_DEAD_LETTERS.labels(self.name).set(status.dead_letters)


def _connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    # Commits are synchronous (the server's default): a projector's commit is announced to
    # readers (NOTIFY) and acknowledged to clients as read-your-writes, so it must survive a
    # database crash like the events it came from (tests/reliability/test_crash_durability).
    # Named after this host and process: `ledger projections status` shows who holds a lease.
    # The keepalives make the server drop the session (and its leases) of a vanished host.
    return psycopg.connect(
        url,
        autocommit=autocommit,
        connect_timeout=5,
        cursor_factory=TimedCursor,
        application_name=lease_holder_name(),
        options=LEASE_KEEPALIVES,
    )


class _Pace:
    """How long a busy worker gathers appends after a step began: GATHER_SECONDS once it read
    FULL_GATHER_EVENTS_PER_SECOND in the last PACE_WINDOW_SECONDS, that share of it below.
    Under load a step applies many commands at a time; a lone client's commands, a few events
    a second, are applied within milliseconds of each other."""

    def __init__(self) -> None:
        self._steps: deque[tuple[float, int]] = deque()  # (started, events read)
        self._read = 0  # the events of `_steps`

    def gather(self, started: float, read: int) -> float:
        """Records the step begun at `started` that read `read` events; the gather after it."""
        self._steps.append((started, read))
        self._read += read
        while self._steps[0][0] < started - PACE_WINDOW_SECONDS:
            self._read -= self._steps.popleft()[1]
        per_second = self._read / PACE_WINDOW_SECONDS
        return GATHER_SECONDS * min(1.0, per_second / FULL_GATHER_EVENTS_PER_SECOND)


class _Wake:
    """One worker's wake-up: at once on an append of the aggregates its projection reads (or
    one it cannot tell, or a reconnection), and PASS_OVER_SECONDS after the first append of
    others since its last step, which it only has to move its position past: readers waiting
    on that position wait no longer than that, and the worker steps a few times a second at
    most for appends it does not read, not once per append."""

    def __init__(self, aggregates: frozenset[str] | None) -> None:
        self._aggregates = aggregates
        self._changed = threading.Condition()
        self._now = False
        self._moved = 0  # aggregates it reads moved since the last step
        self._due: float | None = None  # when to step for appends passed over

    def set(self, moved: Mapping[str, int] | None = None) -> None:
        """An append that moved `moved[topic]` aggregates of each topic (None: any, or
        unknown)."""
        with self._changed:
            if moved is None or self._aggregates is None:
                self._now = True
            elif read := _count_read(moved, self._aggregates):
                self._now = True
                self._moved += read
            elif self._due is None:
                self._due = time.monotonic() + PASS_OVER_SECONDS
            else:
                return
            self._changed.notify()

    def wait(self, timeout: float, not_before: float = 0.0) -> None:
        """Returns when the next step is due, but not before the monotonic time `not_before`,
        or after `timeout` seconds in any case."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                due = deadline
                if self._now:
                    due = min(due, 0.0 if self._moved >= FULL_STEP_AGGREGATES else not_before)
                elif self._due is not None:
                    due = min(due, max(self._due, not_before))
                left = due - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            # Cleared before the step that follows, so an append during it wakes us again.
            self._now, self._moved, self._due = False, 0, None


def _count_read(moved: Mapping[str, int], aggregates: frozenset[str]) -> int:
    """How many of the aggregates `moved` are of the topics `aggregates`."""
    return sum(count for topic, count in moved.items() if topic in aggregates)


class Appends:
    """One LISTEN connection per process for the store's append notifications, waking the
    subscribed workers (five listening connections made each append wake five backends and
    five threads). Reconnects by itself; while it cannot, the workers poll."""

    def __init__(self, database_url: str, stop: threading.Event) -> None:
        self._lock = threading.Lock()
        self._wakes: list[_Wake] = []
        # A reconnection (None) wakes everyone: events may have arrived while nobody listened.
        self._listener = AppendListener(
            lambda: _connect(database_url, autocommit=True), stop, self._heard
        )

    def subscribe(self, aggregates: frozenset[str] | None = None) -> _Wake:
        """A wake-up for the appends of aggregates of these topics (None: every append)."""
        wake = _Wake(aggregates)
        wake.set()  # look once before the first notification
        with self._lock:
            self._wakes.append(wake)
        self._listener.start()
        return wake

    def unsubscribe(self, wake: _Wake) -> None:
        with self._lock:
            if wake in self._wakes:
                self._wakes.remove(wake)

    def _heard(self, payload: str | None) -> None:
        moved = aggregates_moved(payload)
        with self._lock:
            for wake in self._wakes:
                wake.set(moved)


def run_workers(
    database_url: str,
    projections: list[Projection],
    stop: threading.Event,
    *,
    batch_size: int = LIVE_BATCH,
    poll_seconds: float = POLL_SECONDS,
) -> list[threading.Thread]:
    """Starts one worker thread per projection, sharing one listener; they end when `stop`
    is set."""
    appends = Appends(database_url, stop)
    threads = []
    for projection in projections:
        worker = Worker(
            database_url,
            projection,
            stop,
            batch_size=batch_size,
            poll_seconds=poll_seconds,
            appends=appends,
        )
        thread = threading.Thread(target=worker.run, name=f"projector-{projection.name}")
        thread.start()
        threads.append(thread)
    return threads
