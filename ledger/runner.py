"""The command runner: how one command is run, whatever it decides.

Under striped in-process locks (commands on the same aggregates in one process queue instead
of burning retries against each other), it runs the use case in a unit of work, commits what
it saved through group commit with the command's id, and retries optimistic-concurrency
conflicts a bounded number of times; it keeps the aggregate cache current, resolves a failed
commit by the command id, and records metrics, the log line and when the command committed."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager

import psycopg
from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError

from ledger.command_log import lookup
from ledger.commands import CommandResult
from ledger.domain.errors import ConcurrencyError, DomainError, UnavailableError
from ledger.group_commit import GroupCommit
from ledger.library import TunedApplication
from ledger.logs import get_logger
from ledger.metrics import COMMAND_SECONDS, COMMANDS, EVENTS_APPENDED
from ledger.unit_of_work import UnitOfWork

MAX_ATTEMPTS = 30
LOCK_STRIPES = 1024
log = get_logger("ledger.commands")

UseCase = Callable[[UnitOfWork], None]


class CommandRunner:
    def __init__(self, app: TunedApplication) -> None:
        self._app = app
        self.commits = GroupCommit(app.save, app.moved_past)
        self._stripes = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # When the calling thread's last command committed: the one question about a thread
        # (`last_committed_at`), answered from the commit's own `Committed.committed_at`.
        self._last = threading.local()

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work to read with before `run` (to find what to lock), then pass to it."""
        return UnitOfWork(self._app)

    def run(
        self,
        command: str,
        use_case: UseCase,
        *,
        locks: Sequence[str] = (),
        retry: bool = True,
        command_id: str | None = None,
        first: UnitOfWork | None = None,
    ) -> CommandResult:
        """Runs `use_case` under the locks of `locks` and commits what it saved, retrying
        conflicts unless `retry` is false. `first`, if given, is the unit of work of the first
        attempt, holding what was read to find the locks."""
        started = time.perf_counter()
        outcome = "error"
        try:
            with self._locked(locks):
                if first is not None:
                    first.forget_moved()
                result = self._attempts(use_case, retry, command_id or uuid.uuid4().hex, first)
            outcome = "ok"
            log.info(
                "command",
                command=command,
                aggregate_id=result.aggregate_id,
                aggregates=list(result.touched),
                position=result.position,
            )
            return result
        except DomainError as exc:
            outcome = "rejected" if not isinstance(exc, ConcurrencyError) else "conflict"
            raise
        finally:
            COMMANDS.labels(command, outcome).inc()
            COMMAND_SECONDS.labels(command).observe(time.perf_counter() - started)

    def last_committed_at(self) -> float:
        """When the calling thread's last successful command committed, in `time.monotonic()`
        seconds (its events visible to readers)."""
        return float(getattr(self._last, "committed_at", 0.0))

    def _attempts(
        self, use_case: UseCase, retry: bool, command_id: str, first: UnitOfWork | None
    ) -> CommandResult:
        """Decides and saves under `command_id`. A failed save may have committed (the
        connection lost after COMMIT, and the retried insert then hitting its own rows): the
        command id settles it, and a committed command answers its first result instead of
        being decided again on state that already holds its effect."""
        attempts = MAX_ATTEMPTS if retry else 1
        stale: frozenset[str] = frozenset()
        for attempt in range(1, attempts + 1):
            uow = (first if attempt == 1 else None) or UnitOfWork(self._app, stale)
            try:
                uow = self._decide(use_case, uow)
                committed = self.commits.save(uow.saved, command_id, uow.aggregate_id)
            except IntegrityError:
                # The server answered: a pooled connection serves the lookup (a fresh one per
                # conflict was a fifth of the command threads' time over HTTP at 64 connections,
                # where two workers' caches conflict on every other order).
                earlier = self._committed(command_id, pooled=True)
                if earlier is not None:
                    return earlier
                # Another process wrote one of them: the next attempt loads them from the store.
                stale = frozenset(a.id for a in uow.saved)
                if attempt == attempts:
                    break
                # Jittered backoff lets the competing writer finish before we reload.
                time.sleep(random.uniform(0, min(0.002 * attempt, 0.05)))  # noqa: S311  # nosec B311
                continue
            except (OperationalError, PersistenceError) as exc:
                earlier = self._committed(command_id)
                if earlier is not None:
                    return earlier
                raise UnavailableError("the event store is unavailable, try again") from exc
            self._app.remember(uow.saved)
            EVENTS_APPENDED.inc(len(committed))
            self._last.committed_at = committed.committed_at
            return CommandResult(uow.aggregate_id, self._app.position(committed), uow.touched)
        raise ConcurrencyError(
            "too many concurrent changes to the same records; try again",
            {"attempts": attempts},
        )

    def _decide(self, use_case: UseCase, uow: UnitOfWork) -> UnitOfWork:
        """Runs the use case, and runs it once more on aggregates loaded from the store when it
        decided on cached ones (the cache is not fast-forwarded: another process may have
        changed them) and either rejected the command or changed nothing. A stale change is
        caught by the save conflicting; a stale rejection or a stale "nothing to do" writes
        nothing that could conflict, so it must confirm its state is current first."""
        try:
            use_case(uow)
        except DomainError:
            if not uow.from_cache:
                raise
            return self._decide_current(use_case, uow)
        if uow.from_cache and not uow.changed:
            return self._decide_current(use_case, uow)
        return uow

    def _decide_current(self, use_case: UseCase, stale: UnitOfWork) -> UnitOfWork:
        current = UnitOfWork(self._app, stale.stale | set(stale.seen))
        use_case(current)
        return current

    def _committed(self, command_id: str, pooled: bool = False) -> CommandResult | None:
        """The first result of `command_id` if it committed, looked up on a fresh connection
        (or, when the server has just answered, a pooled one); if even that fails the outcome
        is unknown, and the client is told to try again."""
        try:
            if pooled:
                with self._app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
                    return lookup(conn, command_id)
            with self._app.connect() as conn:
                return lookup(conn, command_id)
        except (psycopg.OperationalError, OperationalError, PersistenceError, OSError) as exc:
            raise UnavailableError("the event store is unavailable, try again") from exc

    @contextmanager
    def _locked(self, aggregate_ids: Sequence[str]) -> Iterator[None]:
        stripes = sorted({hash(i) % LOCK_STRIPES for i in aggregate_ids})
        with ExitStack() as stack:
            for stripe in stripes:
                stack.enter_context(self._stripes[stripe])
            yield
