"""Upcasters (issue #13): how a stored event of an older shape reads as today's.

A stored event is known by its name (the topic's part after the last dot) and its version: the
`class_version` the library writes into the stored state when the class's is above 1 (absent
means 1). An upcaster, registered for one (name, version), takes the stored payload (the
event's fields, without `timestamp` and `class_version`) and returns the event it stands for
today, as (name, version, payload): a field added (with a default), renamed or retyped, or the
event renamed (another name of the same aggregate). Upcasters chain until no upcaster is
registered for the (name, version) reached, which must be a class of today's domain at its
`class_version` (`ledger events check` verifies every stored pair).

Every reader of events applies them: the projectors (projections.events.decode, under the live
worker, the careful path, the dead-letter retry and a rebuild) and aggregate loads through the
library (`UpcastingMapper`, events and snapshots alike), before the library's own
`upcast_vN_vN+1` methods of the event class.

The registry is empty today: no event has changed yet. Splitting one event into several and
dropping an event are not covered (an upcaster returns exactly one event)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

Payload = dict[str, Any]
# The field the library stores the class version in (only when above 1).
VERSION_FIELD = "class_version"


@dataclass(frozen=True)
class Upcaster:
    """From (name, version) to (to_name, to_version), its payload changed by `change`. The
    target is declared, not only computed, so the projectors' SQL can ask for old names and
    `ledger events check` can follow a chain without payloads."""

    name: str
    version: int
    to_name: str
    to_version: int
    change: Callable[[Payload], Payload]

    def __call__(self, payload: Payload) -> tuple[str, int, Payload]:
        return self.to_name, self.to_version, self.change(payload)


UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register(
    name: str, version: int, to: tuple[str, int] | None = None
) -> Callable[[Callable[[Payload], Payload]], Callable[[Payload], Payload]]:
    """Decorator registering `change` as the upcaster of (name, version), to `to` (by default
    the same name, version + 1)."""
    to_name, to_version = to or (name, version + 1)
    if (to_name, to_version) == (name, version):
        raise ValueError(f"an upcaster of {name} v{version} must change the name or version")

    def decorate(change: Callable[[Payload], Payload]) -> Callable[[Payload], Payload]:
        key = (name, version)
        if key in UPCASTERS:
            raise ValueError(f"{name} v{version} already has an upcaster")
        UPCASTERS[key] = Upcaster(name, version, to_name, to_version, change)
        return change

    return decorate


@contextmanager
def registered(*upcasters: Upcaster) -> Iterator[None]:
    """The upcasters registered for the duration (tests)."""
    added = []
    try:
        for upcaster in upcasters:
            key = (upcaster.name, upcaster.version)
            if key in UPCASTERS:
                raise ValueError(f"{key} already has an upcaster")
            UPCASTERS[key] = upcaster
            added.append(key)
        yield
    finally:
        for key in added:
            UPCASTERS.pop(key, None)


def stored_version(state: Payload) -> int:
    """The version of a stored state (absent: 1)."""
    return int(state.get(VERSION_FIELD, 1))


def needs_upcast(name: str, version: int) -> bool:
    return (name, version) in UPCASTERS


def upcast(name: str, version: int, payload: Payload) -> tuple[str, int, Payload]:
    """Follows the registry from (name, version): the event as today's code knows it."""
    seen = set()
    while (name, version) in UPCASTERS:
        if (name, version) in seen:
            raise ValueError(f"the upcasters of {name} v{version} loop")
        seen.add((name, version))
        name, version, payload = UPCASTERS[(name, version)](payload)
    return name, version, payload


def chain_end(name: str, version: int) -> tuple[str, int]:
    """Where the registry leads (name, version), without a payload."""
    seen = set()
    while (name, version) in UPCASTERS and (name, version) not in seen:
        seen.add((name, version))
        upcaster = UPCASTERS[(name, version)]
        name, version = upcaster.to_name, upcaster.to_version
    return name, version


def stored_names(names: Collection[str]) -> set[str]:
    """`names` and every name the registry maps to one of them: what a reader handling
    `names` must ask the store for."""
    wanted = set(names)
    wanted |= {name for (name, version) in UPCASTERS if chain_end(name, version)[0] in names}
    return wanted


def event_name(topic: str) -> str:
    """The event name of a topic: its part after the last dot."""
    return topic.rpartition(".")[2]


def renamed_topic(topic: str, name: str) -> str:
    """The topic of event `name` of the same aggregate as `topic`."""
    if event_name(topic) == name:
        return topic
    module, _, qualname = topic.partition(":")
    prefix = qualname.rpartition(".")[0]
    return f"{module}:{prefix}.{name}" if prefix else f"{module}:{name}"


def todays_version(topic: str) -> int | None:
    """The class_version of the class `topic` names today, or None if none does."""
    try:
        cls = resolve_topic(topic)
    except Exception:  # the library raises TopicError, or the import fails
        return None
    return int(getattr(cls, VERSION_FIELD, 1))


def check(stored: Collection[tuple[str, int]]) -> list[str]:
    """One sentence per stored (topic, version) without a path to today's schema."""
    problems = []
    for topic, version in sorted(stored):
        name, reached = chain_end(event_name(topic), version)
        target = renamed_topic(topic, name)
        today = todays_version(target)
        via = "" if target == topic and reached == version else f" (upcast to {name} v{reached})"
        if today is None:
            problems.append(f"{topic} v{version}{via}: no event class {target} today")
        elif reached > today:
            problems.append(
                f"{topic} v{version}{via}: newer than today's class_version {today} "
                "(written by a later release?)"
            )
        elif reached < today:
            cls = resolve_topic(target)
            missing = [
                f"upcast_v{v}_v{v + 1}"
                for v in range(reached, today)
                if not hasattr(cls, f"upcast_v{v}_v{v + 1}")
            ]
            if missing:
                problems.append(
                    f"{topic} v{version}{via}: today's class_version is {today} and there is "
                    f"no upcaster from v{reached} (registry or {', '.join(missing)})"
                )
    return problems


class UpcastingMapper(Mapper[str]):
    """The library's mapper, applying the registry to stored states before the library's own
    class_version upcasting: aggregates load from events and snapshots of older shapes."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if UPCASTERS and any(name == event_name(stored_event.topic) for name, _ in UPCASTERS):
            stored_event = self._upcast(stored_event)
        return super().to_domain_event(stored_event)

    def _upcast(self, stored_event: StoredEvent) -> StoredEvent:
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        payload: Payload = self.transcoder.decode(state)
        name = event_name(stored_event.topic)
        version = int(payload.pop(VERSION_FIELD, 1))
        if not needs_upcast(name, version):
            return stored_event
        stamp = payload.pop("timestamp", None)
        name, version, payload = upcast(name, version, payload)
        payload = dict(payload)
        if stamp is not None:
            payload["timestamp"] = stamp
        if version > 1:
            payload[VERSION_FIELD] = version
        encoded = self.transcoder.encode(payload)
        if self.compressor:
            encoded = self.compressor.compress(encoded)
        if self.cipher:
            encoded = self.cipher.encrypt(encoded)
        return StoredEvent(
            originator_id=stored_event.originator_id,
            originator_version=stored_event.originator_version,
            topic=renamed_topic(stored_event.topic, name),
            state=encoded,
        )


# Every stored (topic, version) pair, events and snapshots (a state is JSON text).
STORED_PAIRS = """
SELECT topic, coalesce((convert_from(state, 'UTF8')::jsonb ->> 'class_version')::int, 1)
FROM {table} GROUP BY 1, 2
"""


def stored_pairs(conn: Any, tables: Collection[str]) -> set[tuple[str, int]]:
    """The (topic, version) pairs the tables hold (psycopg connection)."""
    pairs: set[tuple[str, int]] = set()
    for table in tables:
        rows = conn.execute(STORED_PAIRS.format(table=table)).fetchall()
        pairs |= {(str(topic), int(version)) for topic, version in rows}
    return pairs


# The incremental scan (migration 0009): the pairs seen so far, and how far the events were
# scanned. One scan at a time (concurrent starts): a transaction-scoped advisory lock.
SCAN_LOCK_KEY = 0x1ED6E513
SEEN_TABLE = "event_versions_seen"
SCAN_TABLE = "event_versions_scan"
NEW_EVENT_PAIRS = """
INSERT INTO event_versions_seen (topic, version)
SELECT topic, coalesce((convert_from(state, 'UTF8')::jsonb ->> 'class_version')::int, 1)
FROM {table} WHERE notification_id > %s AND notification_id <= %s GROUP BY 1, 2
ON CONFLICT DO NOTHING
"""
EVENTS_HEAD = "SELECT coalesce(max(notification_id), 0) FROM {table}"
SNAPSHOT_PAIRS = """
INSERT INTO event_versions_seen (topic, version)
SELECT topic, coalesce((convert_from(state, 'UTF8')::jsonb ->> 'class_version')::int, 1)
FROM {table} GROUP BY 1, 2
ON CONFLICT DO NOTHING
"""


def seen_pairs(conn: Any, events_table: str, snapshots_table: str) -> set[tuple[str, int]] | None:
    """Every stored (topic, version) pair, parsing only the events stored since the last call
    (and the snapshots, a small table); None when the database predates migration 0009. In one
    transaction of `conn` (psycopg), serialised with other callers by an advisory lock."""
    with conn.transaction():
        present = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
            (SEEN_TABLE, SCAN_TABLE),
        ).fetchone()
        if not present or not present[0]:
            return None
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCAN_LOCK_KEY,))
        row = conn.execute("SELECT checked_through FROM event_versions_scan").fetchone()
        checked = int(row[0]) if row else 0
        head_row = conn.execute(EVENTS_HEAD.format(table=events_table)).fetchone()
        head = int(head_row[0]) if head_row else 0
        if head < checked:
            # The store was emptied or restored from an older copy: start again.
            conn.execute("DELETE FROM event_versions_seen")
            checked = 0
        if head > checked:
            conn.execute(NEW_EVENT_PAIRS.format(table=events_table), (checked, head))
        conn.execute(SNAPSHOT_PAIRS.format(table=snapshots_table))
        conn.execute(
            "INSERT INTO event_versions_scan (only_row, checked_through) VALUES (true, %s) "
            "ON CONFLICT (only_row) DO UPDATE SET checked_through = excluded.checked_through",
            (head,),
        )
        rows = conn.execute("SELECT topic, version FROM event_versions_seen").fetchall()
    return {(str(topic), int(version)) for topic, version in rows}
