"""Command ids, written in the same transaction as their command's events.

A connection lost after the server committed but before its reply arrived leaves the outcome
unknown. The retry must not decide the command again on state that already holds its effect:
it looks its id up here instead, and a present row is the proof that the command committed
(with what it touched, and the events whose position it reports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ledger.commands import CommandResult

TABLE = "command_ids"
# Ids live at least this long, so a client retrying within a day still gets the first result.
RETENTION = timedelta(hours=24)

INSERT = (
    f"INSERT INTO {TABLE} (command_id, aggregate_id, touched, event_ids, event_versions) "  # noqa: S608  # nosec B608
    "VALUES (%s, %s, %s, %s, %s)"
)
LOOKUP = f"""
    SELECT c.aggregate_id, c.touched, (
        SELECT max(e.notification_id) FROM ledger_events e
        JOIN unnest(c.event_ids, c.event_versions) AS k(id, version)
        ON e.originator_id = k.id AND e.originator_version = k.version
    ) AS position
    FROM {TABLE} c WHERE c.command_id = %s
"""  # noqa: S608  # nosec B608


@dataclass(frozen=True)
class CommandRecord:
    """One command to record with its events: its id, and the result it answers."""

    command_id: str
    aggregate_id: str
    touched: tuple[str, ...]
    events: tuple[tuple[str, int], ...]  # (originator id, version) of each of its events

    def params(self) -> tuple[Any, ...]:
        return (
            self.command_id,
            self.aggregate_id,
            list(self.touched),
            [i for i, _ in self.events],
            [v for _, v in self.events],
        )


def record(curs: Any, commands: Sequence[CommandRecord]) -> None:
    """Inserts the commands' id rows on the cursor of the transaction inserting their events."""
    if commands:
        curs.executemany(INSERT, [c.params() for c in commands])


def lookup(conn: Any, command_id: str) -> CommandResult | None:
    """The result a command answered when it committed, or None if it never committed."""
    row = conn.execute(LOOKUP, (command_id,)).fetchone()
    if row is None:
        return None
    values = list(row.values()) if isinstance(row, dict) else list(row)
    aggregate_id, touched, position = values
    return CommandResult(str(aggregate_id), int(position or 0), tuple(touched))


# The scheduled cleanup (api/housekeeping.py), with RETENTION as its parameter.
PURGE = f"DELETE FROM {TABLE} WHERE committed_at < now() - %s"  # noqa: S608  # nosec B608
