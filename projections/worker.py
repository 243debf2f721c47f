"""Live projector workers: follow the store and keep each projection's tables up to date.

* Push-driven: each worker LISTENs on the channel the store's recorder NOTIFYs on every append,
  with a polling fallback, so a dropped listen connection or a lost notification costs at most
  one poll interval, never a stall.
* Batches: when there is a backlog, up to `batch_size` events are applied per transaction.
* One active instance per projection: a session advisory lock; a second copy waits as a hot
  standby and takes over within a second when the first one dies.
* Reconnects by itself after the database restarts; stops cleanly on SIGTERM/SIGINT, letting
  the batch in flight commit or roll back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from ledger.logs import get_logger
from ledger.metrics import (
    PROJECTION_DEAD_LETTERS,
    PROJECTION_EVENTS,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
    PROJECTION_POSITION,
)
from ledger.slow_queries import TimedCursor
from projections import store
from projections.applier import Applier
from projections.base import Projection
from projections.status import read_status
from projections.tracking import step

log = get_logger("ledger.projector")

LIVE_BATCH = 1_000
POLL_SECONDS = 1.0
LEADERSHIP_RETRY_SECONDS = 1.0
GAUGE_REFRESH_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 5.0


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
    ) -> None:
        self.url = database_url
        self.projection = projection
        self.stop = stop
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.applier = Applier(projection)
        self.leading = threading.Event()
        self._gauges_at = 0.0

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
        return psycopg.connect(
            self.url, autocommit=autocommit, connect_timeout=5, cursor_factory=TimedCursor
        )

    def _wait_for_leadership(self, lock_conn: psycopg.Connection[Any]) -> bool:
        while not self.stop.is_set():
            if store.try_lead(lock_conn, self.name):
                return True
            self.stop.wait(LEADERSHIP_RETRY_SECONDS)
        return False

    def _follow(self, lock_conn: psycopg.Connection[Any]) -> None:
        with self._connect() as conn:
            listener = _Listener(self._connect)
            try:
                while not self.stop.is_set():
                    done = step(conn, self.applier, self.batch_size)
                    if done.read:
                        PROJECTION_EVENTS.labels(self.name).inc(done.applied)
                        if done.parked:
                            log.error("events parked", projection=self.name, count=done.parked)
                    self._refresh_gauges(conn)
                    if done.read == self.batch_size:
                        continue  # a backlog: keep going without waiting
                    # Our lock connection must still be alive, or another worker may lead.
                    lock_conn.execute("SELECT 1")
                    listener.wait(self.poll_seconds)
            finally:
                listener.close()

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


class _Listener:
    """LISTENs for appends; reconnects lazily, and falls back to sleeping when it cannot."""

    def __init__(self, connect: Callable[..., psycopg.Connection[Any]]) -> None:
        self._connect = connect
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> None:
        """Returns on the next append notification, or after `timeout` seconds."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect(autocommit=True)
                self._conn.execute(f"LISTEN {store.EVENTS_CHANNEL}")
                return  # events may have arrived while we were not listening: look again
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                pass
            # Drain any burst of notifications so the next step sees them all at once.
            for _ in self._conn.notifies(timeout=0):
                pass
        except psycopg.OperationalError as exc:
            log.warning("listen connection lost; polling until it is back", error=str(exc))
            self.close()
            time.sleep(timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def run_workers(
    database_url: str,
    projections: list[Projection],
    stop: threading.Event,
    *,
    batch_size: int = LIVE_BATCH,
    poll_seconds: float = POLL_SECONDS,
) -> list[threading.Thread]:
    """Starts one worker thread per projection; they end when `stop` is set."""
    threads = []
    for projection in projections:
        worker = Worker(
            database_url, projection, stop, batch_size=batch_size, poll_seconds=poll_seconds
        )
        thread = threading.Thread(target=worker.run, name=f"projector-{projection.name}")
        thread.start()
        threads.append(thread)
    return threads
