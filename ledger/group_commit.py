"""Group commit: the events of concurrent commands saved in one transaction.

The library's recorder takes the events table's EXCLUSIVE lock and commits once per `save`, so
concurrent writers would queue on that lock and on one WAL flush each. `GroupCommit` is given
the function that saves (the ledger's `save`) and the one that says whether another process's
append is known to have passed a version (the application's `moved_past`), nothing else: it
never calls back into the command runner."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, Recording

from ledger.command_log import CommandRecord
from ledger.eventstore import Committed, StaleAggregateError, first_versions

# Most events one group commit writes. One `save` of about 1,300 events (some 700 kB) hung for
# good here inside psycopg's pipeline over a Unix socket (the server waiting to read, the client
# waiting to write); 1,000 went through. Groups stay well below that.
MAX_GROUP_EVENTS = 300

Save = Callable[..., list[Recording[str]]]
# Whether the store is known to hold a newer version of the aggregate than this one.
MovedPast = Callable[[str, int], bool]


class _Ticket:
    """One command's events waiting to be committed, and what became of them."""

    __slots__ = ("aggregates", "command", "decided_on", "error", "events", "ids", "recordings")

    def __init__(
        self, aggregates: Sequence[Any], command_id: str | None, aggregate_id: str
    ) -> None:
        self.aggregates = list(aggregates)
        # Collected now, so a failed group can still save them one command at a time.
        self.events = [e for a in self.aggregates for e in a.collect_events()]
        self.ids = frozenset(a.id for a in self.aggregates)
        # The version of each changed aggregate the command decided on.
        self.decided_on = {i: v - 1 for i, v in first_versions(self.events).items()}
        self.command = (
            CommandRecord(
                command_id,
                aggregate_id,
                tuple(dict.fromkeys(a.id for a in self.aggregates)),
                tuple((str(e.originator_id), int(e.originator_version)) for e in self.events),
            )
            if command_id and self.events
            else None
        )
        self.recordings: Committed | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.recordings is not None or self.error is not None


class GroupCommit:
    """Saves the events of concurrent commands in one transaction (group commit).

    The first command to arrive becomes the leader: it saves every command queued so far whose
    aggregates are disjoint from the others' in one `save`, and the rest wait for it. If the
    group conflicts, the store says which aggregates another process had moved on: those
    commands fail with `StaleAggregateError` (an IntegrityError: they decide again on current
    state) and the others are saved together again at once; a command is failed so before
    the group is even tried when the application has already heard of such an append. Any
    other conflict (a command id already taken) makes the leader save each command on its
    own, so only the command that really conflicts sees it. Aggregate caching and snapshots
    are the application's, because every aggregate still goes through `save`."""

    def __init__(
        self,
        save: Save,
        moved_past: MovedPast | None = None,
        max_commands: int = 64,
        max_events: int = MAX_GROUP_EVENTS,
    ) -> None:
        self._save = save  # the application's `save`
        self._moved_past = moved_past  # the application's news of other processes' appends
        self._max = max_commands
        self._max_events = max_events
        self._cond = threading.Condition()
        self._queue: list[_Ticket] = []
        self._flushing = False

    def save(
        self, aggregates: Sequence[Any], command_id: str | None = None, aggregate_id: str = ""
    ) -> Committed:
        """Saves the aggregates' pending events (with other commands' when they are
        concurrent), and the command's id row in the same transaction; raises what saving
        them alone would have raised. The answer says when the transaction committed."""
        ticket = _Ticket(aggregates, command_id, aggregate_id)
        with self._cond:
            self._queue.append(ticket)
            while True:
                if ticket.done:
                    break
                if self._flushing:
                    self._cond.wait()
                    continue
                self._flushing = True
                batch = self._take()
                self._cond.release()
                try:
                    self._flush(batch)
                finally:
                    self._cond.acquire()
                    self._flushing = False
                    self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.recordings or Committed()

    def _take(self) -> list[_Ticket]:
        """The oldest queued commands whose aggregates do not overlap (called locked)."""
        batch: list[_Ticket] = []
        claimed: set[str] = set()
        events = 0
        for ticket in self._queue:
            if len(batch) == self._max:
                break
            if batch and events + len(ticket.events) > self._max_events:
                continue
            if claimed.isdisjoint(ticket.ids):
                batch.append(ticket)
                claimed |= ticket.ids
                events += len(ticket.events)
        taken = {id(t) for t in batch}
        self._queue = [t for t in self._queue if id(t) not in taken]
        return batch

    def _flush(self, batch: list[_Ticket]) -> None:
        batch = self._without_known_stale(batch)
        while len(batch) > 1:
            try:
                recordings = self._committed(_objects(batch), _commands(batch), check_stale=True)
            except StaleAggregateError as exc:
                # Another process moved some of them on: those commands decide again on the
                # current state, and the rest are saved together still.
                moved = [t for t in batch if not t.ids.isdisjoint(exc.ids)]
                for ticket in moved:
                    ticket.error = StaleAggregateError(exc.ids & ticket.ids)
                batch = [t for t in batch if t.ids.isdisjoint(exc.ids)]
                continue
            except IntegrityError:
                break  # a key of theirs already taken (a command id): go one by one
            except BaseException as exc:
                for ticket in batch:
                    ticket.error = exc
                return
            by_id: dict[str, list[Recording[str]]] = {}
            for recording in recordings:
                by_id.setdefault(recording.domain_event.originator_id, []).append(recording)
            for ticket in batch:
                ticket.recordings = Committed(
                    [r for i in ticket.ids for r in by_id.get(i, [])], recordings.committed_at
                )
            return
        for ticket in batch:
            try:
                ticket.recordings = self._committed(_objects([ticket]), _commands([ticket]))
            except BaseException as exc:
                ticket.error = exc

    def _without_known_stale(self, batch: list[_Ticket]) -> list[_Ticket]:
        """The batch, less the commands that decided on an aggregate another process is
        already known to have moved on (its append would conflict and take the group's
        transaction with it): those fail at once with `StaleAggregateError`."""
        if self._moved_past is None:
            return batch
        kept = []
        for ticket in batch:
            moved = frozenset(
                i for i, version in ticket.decided_on.items() if self._moved_past(i, version)
            )
            if moved:
                ticket.error = StaleAggregateError(moved)
            else:
                kept.append(ticket)
        return kept

    def _committed(
        self, objects: list[Any], commands: list[CommandRecord], check_stale: bool = False
    ) -> Committed:
        # After a group's conflict, a query says which aggregates another process moved on;
        # one command alone needs none (its duplicate key says as much).
        recordings = self._save(*objects, commands=commands, check_stale=check_stale)
        # A plain `save` (a test's stand-in) says nothing of its commit: it was just now.
        return recordings if isinstance(recordings, Committed) else Committed(recordings)


def _objects(batch: Sequence[_Ticket]) -> list[Any]:
    """The events to record, then their aggregates: their pending events are already
    collected, but `save` still caches them and takes their snapshots."""
    return [e for t in batch for e in t.events] + [a for t in batch for a in t.aggregates]


def _commands(batch: Sequence[_Ticket]) -> list[CommandRecord]:
    """The id rows of the batch's commands, committed with their events."""
    return [t.command for t in batch if t.command is not None]
