"""Upcasters (issue #13): how a stored event of an older shape reads as today's.

A stored event is known by its name (the topic's part after the last dot) and its version: the
`class_version` the library writes into the stored state when the class's is above 1 (absent
means 1). An upcaster, registered for one (name, version), takes the stored payload (the
event's fields, without `timestamp` and `class_version`) and says what the event stands for
today:
- `Upcaster`: one event, as (name, version, payload): a field added (with a default), renamed
  or retyped, or the event renamed (another name of the same aggregate);
- `Split`: several events, in order, from one stored event; they keep its position in the
  store and its aggregate version (an aggregate's version counts stored events);
- `Drop`: nothing; the stored event still holds its position and version, and no reader acts
  on it (a creation event cannot be dropped: its aggregate would not exist).
Upcasters chain until no upcaster is registered for the (name, version) reached, which must be
a class of today's domain at its `class_version` (`ledger events check` verifies every stored
pair).

Every reader of events applies them: the projectors (projections.events.decode_rows, under the
live worker, the careful path, the dead-letter retry and a rebuild), `ledger events show`, and
aggregate loads through the library (`UpcastingMapper`, events and snapshots alike), before the
library's own `upcast_vN_vN+1` methods of the event class.

Today's registry is at the end of this module."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from ledger import contract

Payload = dict[str, Any]
Pair = tuple[str, int]  # (event name, version)
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

    @property
    def targets(self) -> tuple[Pair, ...]:
        return ((self.to_name, self.to_version),)

    def expand(self, payload: Payload) -> list[tuple[str, int, Payload]]:
        return [(self.to_name, self.to_version, self.change(payload))]


@dataclass(frozen=True)
class Split:
    """From (name, version) to several events, `into` in order; `change` returns one payload
    per target."""

    name: str
    version: int
    into: tuple[Pair, ...]
    change: Callable[[Payload], Sequence[Payload]]

    def __post_init__(self) -> None:
        if len(self.into) < 2:
            raise ValueError(f"a split of {self.name} v{self.version} gives at least two events")

    @property
    def targets(self) -> tuple[Pair, ...]:
        return self.into

    def expand(self, payload: Payload) -> list[tuple[str, int, Payload]]:
        payloads = self.change(payload)
        if len(payloads) != len(self.into):
            raise ValueError(
                f"the split of {self.name} v{self.version} gave {len(payloads)} payloads "
                f"for {len(self.into)} events"
            )
        return [(name, version, p) for (name, version), p in zip(self.into, payloads, strict=True)]


@dataclass(frozen=True)
class Drop:
    """(name, version) stands for no event today."""

    name: str
    version: int

    @property
    def targets(self) -> tuple[Pair, ...]:
        return ()

    def expand(self, payload: Payload) -> list[tuple[str, int, Payload]]:
        return []


AnyUpcaster = Upcaster | Split | Drop
UPCASTERS: dict[Pair, AnyUpcaster] = {}


def _add(upcaster: AnyUpcaster) -> None:
    key = (upcaster.name, upcaster.version)
    if key in upcaster.targets:
        raise ValueError(f"an upcaster of {key[0]} v{key[1]} must change the name or version")
    if key in UPCASTERS:
        raise ValueError(f"{key[0]} v{key[1]} already has an upcaster")
    UPCASTERS[key] = upcaster


def register(
    name: str, version: int, to: Pair | None = None
) -> Callable[[Callable[[Payload], Payload]], Callable[[Payload], Payload]]:
    """Decorator registering `change` as the upcaster of (name, version), to `to` (by default
    the same name, version + 1)."""
    to_name, to_version = to or (name, version + 1)

    def decorate(change: Callable[[Payload], Payload]) -> Callable[[Payload], Payload]:
        _add(Upcaster(name, version, to_name, to_version, change))
        return change

    return decorate


def register_split(
    name: str, version: int, into: Sequence[Pair]
) -> Callable[[Callable[[Payload], Sequence[Payload]]], Callable[[Payload], Sequence[Payload]]]:
    """Decorator registering `change` as the split of (name, version) into the events `into`
    (it returns one payload for each)."""

    def decorate(
        change: Callable[[Payload], Sequence[Payload]],
    ) -> Callable[[Payload], Sequence[Payload]]:
        _add(Split(name, version, tuple(into), change))
        return change

    return decorate


def register_drop(name: str, version: int) -> None:
    """(name, version) stands for no event today."""
    _add(Drop(name, version))


@contextmanager
def registered(*upcasters: AnyUpcaster) -> Iterator[None]:
    """The upcasters registered for the duration (tests)."""
    added = []
    try:
        for upcaster in upcasters:
            _add(upcaster)
            added.append((upcaster.name, upcaster.version))
        yield
    finally:
        for key in added:
            UPCASTERS.pop(key, None)


def stored_version(state: Payload) -> int:
    """The version of a stored state (absent: 1)."""
    return int(state.get(VERSION_FIELD, 1))


def needs_upcast(name: str, version: int) -> bool:
    return (name, version) in UPCASTERS


# Deeper than any real history of one event: a longer chain is a loop.
MAX_CHAIN = 64


def expand(name: str, version: int, payload: Payload) -> list[tuple[str, int, Payload]]:
    """Follows the registry from (name, version): the events, as today's code knows them, the
    stored one stands for (one; several when split; none when dropped)."""
    done: list[tuple[str, int, Payload]] = []
    pending = [(name, version, payload, 0)]
    while pending:
        name, version, payload, depth = pending.pop()
        upcaster = UPCASTERS.get((name, version))
        if upcaster is None:
            done.append((name, version, payload))
            continue
        if depth >= MAX_CHAIN:
            raise ValueError(f"the upcasters of {name} v{version} loop")
        pending.extend((n, v, p, depth + 1) for n, v, p in reversed(upcaster.expand(payload)))
    return done


def ends(name: str, version: int) -> list[Pair]:
    """Where the registry leads (name, version), without a payload: today's events, in order."""
    reached: list[Pair] = []
    pending = [(name, version, 0)]
    while pending:
        name, version, depth = pending.pop()
        upcaster = UPCASTERS.get((name, version))
        if upcaster is None:
            reached.append((name, version))
        elif depth < MAX_CHAIN:
            pending.extend((n, v, depth + 1) for n, v in reversed(upcaster.targets))
    return reached


def chain(name: str, version: int) -> list[Pair]:
    """The registry's keys the upcasting of (name, version) goes through."""
    keys: list[Pair] = []
    pending = [(name, version)]
    while pending:
        key = pending.pop()
        if key in UPCASTERS and key not in keys:
            keys.append(key)
            pending.extend(reversed(UPCASTERS[key].targets))
    return keys


def one_to_one(name: str, version: int) -> bool:
    """Whether every upcaster on the chain of (name, version) gives exactly one event (so a
    rewrite in place keeps each stored event's position and version)."""
    return all(isinstance(UPCASTERS[key], Upcaster) for key in chain(name, version))


def stored_names(names: Collection[str]) -> set[str]:
    """`names` and every name the registry leads to one of them: what a reader handling
    `names` must ask the store for."""
    wanted = set(names)
    for name, version in UPCASTERS:
        if any(end in names for end, _ in ends(name, version)):
            wanted.add(name)
    return wanted


def event_name(topic: str) -> str:
    """The event name of a topic: its class's name (`Product.PriceChanged`: `PriceChanged`,
    `ledger.domain.base:LedgerSnapshot`: `LedgerSnapshot`)."""
    return topic.rpartition(":")[2].rpartition(".")[2]


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


def check(stored: Collection[Pair]) -> list[str]:
    """One sentence per stored (topic, version) without a path to today's schema."""
    problems = []
    for topic, version in sorted(stored):
        for name, reached in ends(event_name(topic), version):
            problem = _no_path(topic, version, name, reached)
            if problem:
                problems.append(problem)
    return problems


def _no_path(topic: str, version: int, name: str, reached: int) -> str | None:
    """Why the stored pair (topic, version), upcast to (name, reached), is not today's event."""
    target = renamed_topic(topic, name)
    today = todays_version(target)
    via = "" if target == topic and reached == version else f" (upcast to {name} v{reached})"
    if today is None:
        return f"{topic} v{version}{via}: no event class {target} today"
    if reached > today:
        return (
            f"{topic} v{version}{via}: newer than today's class_version {today} "
            "(written by a later release?)"
        )
    cls = resolve_topic(target)
    missing = [
        f"upcast_v{v}_v{v + 1}"
        for v in range(reached, today)
        if not hasattr(cls, f"upcast_v{v}_v{v + 1}")
    ]
    if missing:
        return (
            f"{topic} v{version}{via}: today's class_version is {today} and there is "
            f"no upcaster from v{reached} (registry or {', '.join(missing)})"
        )
    return None


class SplitEvent:
    """The events a split made of one stored event, for the library's aggregate loading: the
    first mutates the aggregate as usual (its version becomes the stored event's), the others
    apply to it in turn, under the same version."""

    def __init__(self, events: Sequence[Any]) -> None:
        self.events = events
        self.originator_id = events[0].originator_id
        self.originator_version = events[0].originator_version
        self.timestamp = events[0].timestamp

    def mutate(self, aggregate: Any) -> Any:
        aggregate = self.events[0].mutate(aggregate)
        for event in self.events[1:]:
            event.apply(aggregate)
            aggregate.modified_on = event.timestamp
        return aggregate


@dataclass(frozen=True)
class DroppedEvent:
    """A stored event an upcaster drops, for the library's aggregate loading: only the
    aggregate's version moves past it."""

    originator_id: str
    originator_version: int
    timestamp: Any

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is None:
            raise ValueError(
                f"the first event of {self.originator_id} is dropped: an aggregate needs "
                "the event that created it"
            )
        aggregate.version = self.originator_version
        return aggregate


class UpcastingMapper(Mapper[str]):
    """The library's mapper, applying the registry to stored states before the library's own
    class_version upcasting: aggregates load from events and snapshots of older shapes."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if UPCASTERS and any(name == event_name(stored_event.topic) for name, _ in UPCASTERS):
            upcast = self._upcast(stored_event)
            if upcast is not None:
                return upcast
        return super().to_domain_event(stored_event)

    def _upcast(self, stored_event: StoredEvent) -> Any:
        """The domain event(s) `stored_event` stands for, or None when it is of today's shape."""
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        payload: Payload = self.transcoder.decode(state)
        name = event_name(stored_event.topic)
        version = int(payload.pop(VERSION_FIELD, 1))
        if not needs_upcast(name, version):
            return None
        stamp = payload.pop("timestamp", None)
        events = [
            super(UpcastingMapper, self).to_domain_event(
                self._stored(stored_event, name, version, payload, stamp)
            )
            for name, version, payload in expand(name, version, payload)
        ]
        if not events:
            return DroppedEvent(
                str(stored_event.originator_id), stored_event.originator_version, stamp
            )
        return events[0] if len(events) == 1 else SplitEvent(events)

    def _stored(
        self, original: StoredEvent, name: str, version: int, payload: Payload, stamp: Any
    ) -> StoredEvent:
        """A stored event of today's (name, version) in `original`'s place."""
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
            originator_id=original.originator_id,
            originator_version=original.originator_version,
            topic=renamed_topic(original.topic, name),
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


# Today's registry. Personal fields are sealed from these versions on (issue #14,
# ledger.personal); a v1 event holds them in plain text, which readers take as it is and an
# erasure redacts in place (ledger.erasure).


@register(contract.USER_REGISTERED.name, 1)
def _user_registered_v1(payload: Payload) -> Payload:
    """v1 had no email_claim: its claim's id is made from the plain-text email."""
    return {**payload, "email_claim": None}


@register(contract.ORDER_PLACED.name, 1)
def _order_placed_v1(payload: Payload) -> Payload:
    """v1 held the shipping address in plain text, as v2's opened one reads."""
    return payload
