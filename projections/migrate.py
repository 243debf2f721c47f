"""`ledger events migrate` (issue #13): stored events of old versions rewritten into today's
schema, while the ledger runs, only once a rebuild of every projection from the rewritten
events gives the live tables; afterwards the upcasters of those versions can be deleted.

The steps, each safe to interrupt until the last (`run`):

1. **Plan.** Every stored (topic, class_version) pair; those with a path to today's schema
   through a one-to-one upcaster chain (or the library's `upcast_vN_vN+1`) are rewritten. A
   pair without a path stops the run (`ledger events check` names it).
2. **Copy.** In one REPEATABLE READ transaction, schema `ledger_migrate` receives a copy of
   `ledger_events` up to the head H (same notification ids and versions), the old rows
   rewritten as today's library writes them: read by the library's mapper (the registry's
   upcasters, then the library's own) and written back by it, so the topic is today's and
   `class_version` is today's (absent when 1). Each rewrite is kept in `rewritten` with the
   row it replaces. Empty copies of `projection_positions`, `projection_dead_letters` and of
   every projection table sit beside it.
3. **Rebuild.** Every projection is rebuilt by projections.rebuild on connections whose
   `search_path` is `ledger_migrate` alone: every unqualified name the rebuild, its shadow
   tables, its swap and the handlers use resolves to the copy, or fails; none can fall
   through to a live table (with `public` on the path, a `DROP TABLE IF EXISTS
   orders__rebuild` run before the copy's shadow exists would drop a live rebuild's). The
   copies are named `<name>@ledger_migrate`, so their rebuild locks and the swap's progress
   notification are not the live projection's: the API, which listens, would otherwise take
   the copy's position for the live one's and answer reads that wait for a write too early.
4. **Compare.** The live tables keep moving, so the comparison is at the live projections'
   own positions: one REPEATABLE READ transaction reads each live position P (its rows were
   committed with it: the snapshot holds the live tables exactly at P), extends the copy with
   the events up to P (rewritten) and takes each copy projection from H to its P with the
   live projector's code, then compares every table both ways (EXCEPT ALL) and the dead
   letters; then rolls back. Each live projection must have reached H first (waited for), be
   of today's projection version, and every table must match.
5. **Swap** (not with `--dry-run`). The rewritten rows of `public.ledger_events` are updated
   in place, each only if its topic and state are still those copied, in batches: every
   UPDATE of the table holds a lock that the library's appends wait for (their EXCLUSIVE
   table lock), so one transaction over a million rows would stop every write for its
   length. A half-done swap is harmless: an old row and its rewrite read the same through the
   upcasters, which stay deployed until the migrate has finished, and another run finishes
   it. The last transaction takes the appends' lock (writes wait, reads go on), rewrites the
   rows appended since H in an old shape (an old release still running), deletes the
   snapshots of old versions (a cache: aggregates load from their events) and resets the
   version scan of migration 0009, which `ledger events check` then redoes from the start.

Rows whose upcaster chain splits or drops the event are copied unchanged: the projectors read
them through their upcasters, which must stay. The copy schema is dropped at the end, also
on failure (`keep` keeps it to look at)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import orjson
import psycopg
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ledger import contract, upcasting
from ledger.eventstore import EVENTS_TABLE, SNAPSHOTS_TABLE
from projections import positions, store
from projections.applier import Applied, Applier
from projections.base import Projection
from projections.events import EVENT_COLUMNS, Event
from projections.rebuild import Progress, rebuild
from projections.registry import resolve
from projections.store import Conn
from projections.tracking import Batch, advance

SCHEMA = "ledger_migrate"
# One migrate at a time (it drops a copy left by a crashed one): a session advisory lock.
LOCK_KEY = "ledger.migrate"
BATCH = 5_000
# How long the comparison waits for the live projections to reach the copy's head.
LIVE_WAIT_SECONDS = 60.0
# The final transaction's wait for the appends' lock (they wait for it in turn).
TAIL_LOCK_TIMEOUT = "10s"
SAMPLES = 3
# The tables the projections use besides their own, copied empty.
RUNTIME_TABLES = ("projection_positions", "projection_dead_letters")
Pair = tuple[str, int]


class MigrateError(Exception):
    """A migrate that could not run or finish; the message is one line, nothing was swapped
    (unless it says so)."""


@dataclass(frozen=True)
class Plan:
    """The stored pairs of old versions: those rewritten (to today's pair) and those kept as
    they are (their upcasters split or drop the event)."""

    rewrite: dict[Pair, Pair]
    kept: frozenset[Pair]
    snapshots: frozenset[Pair]

    @property
    def nothing_to_do(self) -> bool:
        return not (self.rewrite or self.snapshots)

    def kept_pairs(self) -> str:
        """The kept pairs, as `Name vN, ...`."""
        return ", ".join(_pair(p) for p in sorted(self.kept))

    def deletable(self) -> list[tuple[str, int]]:
        """The (name, version) of each upcaster on the rewritten pairs' chains and on no kept
        pair's: once the store is migrated, nothing stored needs them."""
        needed = {key for pair in self.kept for key in _chain(*pair)}
        return sorted({key for pair in self.rewrite for key in _chain(*pair)} - needed)


def _chain(topic: str, version: int) -> list[tuple[str, int]]:
    """The registry's keys the upcasting of a stored pair goes through."""
    return upcasting.chain(upcasting.event_name(topic), version)


@dataclass(frozen=True)
class Difference:
    """A table (or a projection's dead letters) whose live rows differ from the copy's."""

    table: str
    only_live: int
    only_copy: int
    live_samples: list[tuple[Any, ...]]
    copy_samples: list[tuple[Any, ...]]

    def describe(self) -> list[str]:
        lines = [
            f"{self.table}: {self.only_live} rows only in the live table, "
            f"{self.only_copy} only in the rebuild of the migrated events"
        ]
        lines += [f"  live:     {row}" for row in self.live_samples]
        lines += [f"  migrated: {row}" for row in self.copy_samples]
        return lines


@dataclass
class Outcome:
    plan: Plan
    head: int = 0  # the copy's head (H)
    rewritten: int = 0  # rows of old versions rewritten in the copy
    kept: int = 0  # rows of old versions copied unchanged (split or dropped)
    compared_at: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    swapped: bool = False
    updated: int = 0  # rows rewritten in the live store, those appended since H included
    appended_old: int = 0  # of them, appended since H
    changed: int = 0  # rows that changed since the copy, left as they were
    snapshots_deleted: int = 0


Say = Callable[[str], None]


def library_mapper() -> Mapper[str]:
    """The mapper the ledger's application uses (ledger.library.TunedApplication): the
    library's JSON transcoder with its default transcodings (the application registers no
    others, and neither compresses nor encrypts), and the ledger's upcasters."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return upcasting.UpcastingMapper(transcoder=transcoder)


def is_old(topic: str, version: int) -> bool:
    """Whether a stored pair is not today's: an upcaster is registered for it, or the
    library's own upcasting takes it to the class's class_version."""
    name = upcasting.event_name(topic)
    if upcasting.needs_upcast(name, version):
        return True
    today = upcasting.todays_version(topic)
    return today is not None and version < today


def target(topic: str, version: int) -> Pair:
    """Today's (topic, class_version) of a stored pair its upcasters turn into one event."""
    [(name, _)] = upcasting.ends(upcasting.event_name(topic), version)
    topic = upcasting.renamed_topic(topic, name)
    return topic, upcasting.todays_version(topic) or 1


def make_plan(conn: Conn) -> Plan:
    """What the store holds of old versions (reads every row's version: a full scan)."""
    events = upcasting.stored_pairs(conn, (EVENTS_TABLE,))
    snapshots = upcasting.stored_pairs(conn, (SNAPSHOTS_TABLE,))
    problems = upcasting.check(events | snapshots)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MigrateError(
            f"{problems[0]}{more}: no path to today's schema; see ledger events check"
        )
    old = {pair for pair in events if is_old(*pair)}
    rewrite = {pair: target(*pair) for pair in old if one_to_one(*pair)}
    return Plan(
        rewrite,
        frozenset(old - set(rewrite)),
        frozenset(pair for pair in snapshots if is_old(*pair)),
    )


def one_to_one(topic: str, version: int) -> bool:
    """Whether the upcasters of a pair turn each event into exactly one (a rewrite in place
    keeps its position and version); split and dropped events are kept as they are, and so
    are events of a version before their personal fields were sealed (a rewrite would label
    plain text as sealed: an erasure redacts them instead, ledger.erasure)."""
    name = upcasting.event_name(topic)
    personal = contract.PERSONAL.get(name)
    if personal is not None and not personal.sealed(version):
        return False
    return upcasting.one_to_one(name, version)


def copy_url(database_url: str) -> str:
    """`database_url` with every unqualified name resolving to the copy alone."""
    params = conninfo_to_dict(database_url)
    options = f"{params.get('options') or ''} -c search_path={SCHEMA}".strip()
    return make_conninfo(database_url, options=options)


def in_copy(projection: Projection) -> Projection:
    """The projection under the copy's name (its own rebuild lock, position and dead letters,
    and a progress notification no live reader waits on)."""
    cls = type(projection)
    named = type(cls.__name__, (cls,), {"name": f"{cls.name}@{SCHEMA}"})
    return cast(type[Projection], named)()


def run(
    database_url: str,
    *,
    dry_run: bool = False,
    keep: bool = False,
    wait_seconds: float = LIVE_WAIT_SECONDS,
    say: Say = lambda line: None,
    progress: Callable[[Progress], None] | None = None,
) -> Outcome:
    """Plans, copies, rebuilds, compares and (unless `dry_run`, and only when every table is
    equal) swaps. `say` receives a line per step, `progress` the copy's rebuilds'."""
    with psycopg.connect(database_url, autocommit=True) as lock_conn:
        _lock(lock_conn)
        with psycopg.connect(database_url) as conn:
            plan = make_plan(conn)
            conn.rollback()
            outcome = Outcome(plan)
            if plan.nothing_to_do:
                return outcome
            projections = resolve(None)
            try:
                if plan.rewrite:
                    _copy(conn, plan, projections, outcome, say)
                    for projection in projections:
                        _rebuild_copy(database_url, projection, say, progress)
                    _wait_for_live(conn, projections, outcome.head, wait_seconds, say)
                    _compare(conn, plan, projections, outcome)
                else:  # only snapshots of old versions: nothing to copy or compare
                    outcome.head = store.head(conn)
                    conn.rollback()
                if outcome.differences or dry_run:
                    return outcome
                _swap(conn, outcome, copied=bool(plan.rewrite))
                outcome.swapped = True
                upcasting.seen_pairs(conn, EVENTS_TABLE, SNAPSHOTS_TABLE)  # the scan, redone
                return outcome
            finally:
                if not keep:
                    conn.rollback()
                    conn.execute(
                        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
                    )
                    conn.commit()


def _lock(conn: Conn) -> None:
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s)::bigint)", (LOCK_KEY,))
    taken = row.fetchone()
    if not (taken and taken[0]):
        raise MigrateError("another ledger events migrate is running on this database")
    conn.execute(
        "SELECT set_config('application_name', %s, false)",
        (f"ledger events migrate pid {os.getpid()} on {socket.gethostname()}"[:63],),
    )


def _copy(
    conn: Conn, plan: Plan, projections: list[Projection], outcome: Outcome, say: Say
) -> None:
    """The copy schema, its tables, and the store up to its head with the old rows rewritten,
    in one snapshot."""
    schema = sql.Identifier(SCHEMA)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            tables = [
                EVENTS_TABLE,
                *RUNTIME_TABLES,
                *(t.name for p in projections for t in p.tables),
            ]
            for name in tables:
                conn.execute(
                    sql.SQL("CREATE TABLE {}.{} (LIKE public.{} INCLUDING ALL)").format(
                        schema, sql.Identifier(name), sql.Identifier(name)
                    )
                )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {}.rewritten (notification_id bigint PRIMARY KEY, "
                    "old_topic text NOT NULL, old_state bytea NOT NULL, "
                    "topic text NOT NULL, state bytea NOT NULL)"
                ).format(schema)
            )
            outcome.head = store.head(conn)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.ledger_events SELECT * FROM public.ledger_events "
                    "WHERE notification_id <= %s"
                ).format(schema),
                (outcome.head,),
            )
            outcome.rewritten, outcome.kept = _rewrite_into_copy(conn, plan, outcome.head)
            conn.execute(
                sql.SQL(
                    "UPDATE {0}.ledger_events e SET topic = r.topic, state = r.state "
                    "FROM {0}.rewritten r WHERE e.notification_id = r.notification_id"
                ).format(schema)
            )
    finally:
        conn.isolation_level = None
    say(
        f"copied the store through position {outcome.head:,}: {outcome.rewritten:,} events "
        f"of old versions rewritten ({_pairs(plan.rewrite)})"
        + (
            f"; {outcome.kept:,} kept as they are, their upcasters split, drop or unseal them "
            f"({plan.kept_pairs()}): those upcasters must stay"
            if plan.kept
            else ""
        )
    )


def _pair(pair: Pair) -> str:
    return f"{upcasting.event_name(pair[0])} v{pair[1]}"


def _pairs(rewrite: dict[Pair, Pair]) -> str:
    return ", ".join(f"{_pair(old)} -> {_pair(new)}" for old, new in sorted(rewrite.items()))


def _rewrite_into_copy(conn: Conn, plan: Plan, head: int) -> tuple[int, int]:
    """Fills the copy's `rewritten` with each old row up to `head` and its rewrite; returns
    how many rows were rewritten and how many of old versions kept."""
    names = sorted({upcasting.event_name(t) for t, _ in (*plan.rewrite, *plan.kept)})
    mapper = library_mapper()
    rewritten = kept = 0
    insert = sql.SQL(
        "COPY {}.rewritten (notification_id, old_topic, old_state, topic, state) FROM STDIN"
    ).format(sql.Identifier(SCHEMA))
    with conn.cursor(name="ledger_migrate_old_rows") as rows, conn.cursor() as out:
        rows.execute(
            f"SELECT {EVENT_COLUMNS} FROM public.ledger_events "  # noqa: S608 - constant columns  # nosec B608
            "WHERE notification_id <= %s AND split_part(topic, '.', -1) = ANY(%s) "
            "ORDER BY notification_id",
            (head, names),
        )
        while batch := rows.fetchmany(BATCH):
            changes = list(_rewrites(mapper, batch, plan.rewrite))
            kept += sum(1 for row in batch if _stored_pair(row) in plan.kept)
            with out.copy(insert) as copy:
                for change in changes:
                    copy.write_row(change)
            rewritten += len(changes)
    return rewritten, kept


def _stored_pair(row: Sequence[Any]) -> Pair:
    state: dict[str, Any] = orjson.loads(row[4])
    return str(row[3]), upcasting.stored_version(state)


def _rewrites(
    mapper: Mapper[str], rows: Iterable[Sequence[Any]], pairs: Collection[Pair]
) -> Iterator[tuple[int, str, bytes, str, bytes]]:
    """(notification_id, old topic, old state, topic, state) of each row of `pairs`: read by
    the library's mapper as today's event, and written back by it."""
    for row in rows:
        if _stored_pair(row) not in pairs:
            continue
        position, originator_id, version, topic, state = row
        old = StoredEvent(str(originator_id), int(version), str(topic), bytes(state))
        new = mapper.to_stored_event(mapper.to_domain_event(old))
        yield int(position), old.topic, old.state, new.topic, new.state


def _rebuild_copy(
    database_url: str,
    projection: Projection,
    say: Say,
    progress: Callable[[Progress], None] | None,
) -> None:
    def report(p: Progress) -> None:
        if progress:
            progress(replace(p, projection=projection.name))

    result = rebuild(copy_url(database_url), in_copy(projection), progress=report)
    say(
        f"{projection.name}: rebuilt from the migrated events through store position "
        f"{result.position:,}"
        + (f", {result.parked} parked as dead letters" if result.parked else "")
    )


def _wait_for_live(
    conn: Conn, projections: list[Projection], head: int, wait_seconds: float, say: Say
) -> None:
    """Until every live projection has reached `head` (or MigrateError), and is built by
    today's projection version (a read-model change half done compares two codes)."""
    names = [p.name for p in projections]
    deadline = time.monotonic() + wait_seconds
    said = False
    while True:
        live = _live_positions(conn, names)
        conn.rollback()
        behind = {name: live.get(name, 0) for name in names if live.get(name, 0) < head}
        if not behind:
            break
        if time.monotonic() >= deadline:
            where = ", ".join(f"{name} at {at:,}" for name, at in behind.items())
            raise MigrateError(
                f"the live projections did not reach store position {head:,} in "
                f"{wait_seconds:.0f} s ({where}): run the projectors (ledger projector run) "
                "and try again; nothing was changed"
            )
        if not said:
            say(f"waiting for the live projections to reach store position {head:,}")
            said = True
        time.sleep(0.2)
    for projection in projections:
        built = positions.built_version(conn, projection.name)
        if built is not None and built != projection.version:
            conn.rollback()
            raise MigrateError(
                f"{projection.name}'s live tables are version {built} and this code builds "
                f"version {projection.version}: finish that read-model change (ledger "
                f"projections rebuild {projection.name}) first; nothing was changed"
            )
    conn.rollback()


def _live_positions(conn: Conn, names: list[str]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT name, position FROM public.projection_positions WHERE name = ANY(%s)", (names,)
    ).fetchall()
    return {str(name): int(position) for name, position in rows}


def _compare(conn: Conn, plan: Plan, projections: list[Projection], outcome: Outcome) -> None:
    """In one snapshot: the live positions, the copy taken to each, and every table compared;
    rolled back (the copy's extension only served the comparison)."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        live = _live_positions(conn, [p.name for p in projections])  # takes the snapshot
        outcome.compared_at = live
        end = max(live.values(), default=outcome.head)
        _extend_copy(conn, plan, outcome.head, end)
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(SCHEMA)))
        for projection in projections:
            follow = _Follow(in_copy(projection), live[projection.name])
            while advance(conn, follow, BATCH).read == BATCH:
                pass
        conn.execute("SET LOCAL search_path TO public")
        for projection in projections:
            outcome.differences += _differences(conn, projection)
    finally:
        conn.rollback()
        conn.isolation_level = None


def _extend_copy(conn: Conn, plan: Plan, after: int, upto: int) -> None:
    """The events appended since the copy, up to `upto`, into it (the old ones rewritten)."""
    if upto <= after:
        return
    mapper = library_mapper()
    rows = conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM public.ledger_events "  # noqa: S608 - constant columns  # nosec B608
        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id",
        (after, upto),
    ).fetchall()
    changed = {
        position: (topic, state)
        for position, _, _, topic, state in _rewrites(mapper, rows, plan.rewrite)
    }
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "INSERT INTO {}.ledger_events "
                "(notification_id, originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s, %s)"
            ).format(sql.Identifier(SCHEMA)),
            [
                (position, originator_id, version, *changed.get(position, (topic, state)))
                for position, originator_id, version, topic, state in rows
            ],
        )


class _Follow:
    """A copy projection taken from where its rebuild left it to exactly `target`, by the
    live projector's code (projections.tracking)."""

    def __init__(self, projection: Projection, target: int) -> None:
        self.applier = Applier(projection)
        self.name = projection.name
        self.target = target

    def lock(self, conn: Conn) -> int:
        return positions.lock(conn, self.name)

    def read(self, conn: Conn, position: int, limit: int) -> Batch:
        names = self.applier.projection.event_names
        events = store.read_events(conn, position, limit, upto=self.target, names=names)
        if len(events) == limit:
            return Batch(events, events[-1].position)
        return Batch(events, max(position, self.target))

    def apply(self, conn: Conn, events: list[Event[Any]]) -> Applied:
        return self.applier.apply(conn, events)

    def save(self, conn: Conn, position: int) -> None:
        positions.save(conn, self.name, position)


def _differences(conn: Conn, projection: Projection) -> list[Difference]:
    found = []
    schema = sql.Identifier(SCHEMA)
    for table in projection.tables:
        columns = sql.SQL(", ").join(map(sql.Identifier, _columns(conn, table.name)))
        name = sql.Identifier(table.name)
        live = sql.SQL("SELECT {} FROM public.{}").format(columns, name)
        copy = sql.SQL("SELECT {} FROM {}.{}").format(columns, schema, name)
        found.append(_difference(conn, table.name, live, copy))
    letters = sql.SQL(
        "SELECT position, originator_id, originator_version, topic "
        "FROM {}.projection_dead_letters WHERE projection = {}"
    )
    found.append(
        _difference(
            conn,
            f"{projection.name}'s dead letters",
            letters.format(sql.Identifier("public"), sql.Literal(projection.name)),
            letters.format(schema, sql.Literal(in_copy(projection).name)),
        )
    )
    return [difference for difference in found if difference]


def _columns(conn: Conn, table: str) -> list[str]:
    """The live table's columns, in order (the copy's are the same: created LIKE it)."""
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        (f"public.{table}",),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _difference(
    conn: Conn, label: str, live: sql.Composable, copy: sql.Composable
) -> Difference | None:
    """Rows of `live` not in `copy` and the reverse, counted with duplicates (EXCEPT ALL)."""
    counts, samples = [], []
    for query in (
        sql.SQL("({}) EXCEPT ALL ({})").format(live, copy),
        sql.SQL("({}) EXCEPT ALL ({})").format(copy, live),
    ):
        count = conn.execute(sql.SQL("SELECT count(*) FROM ({}) d").format(query)).fetchone()
        counts.append(int(count[0]) if count else 0)
        limited = sql.SQL("SELECT * FROM ({}) d LIMIT {}").format(query, sql.Literal(SAMPLES))
        samples.append(conn.execute(limited).fetchall() if counts[-1] else [])
    if not any(counts):
        return None
    return Difference(label, counts[0], counts[1], samples[0], samples[1])


def _swap(conn: Conn, outcome: Outcome, *, copied: bool) -> None:
    """The copied rewrites (if `copied`) into the live store in batches, then the tail under
    the appends' lock, the old snapshots and the version scan."""
    schema = sql.Identifier(SCHEMA)
    next_batch = sql.SQL(
        "SELECT max(notification_id), count(*) FROM (SELECT notification_id FROM {}.rewritten "
        "WHERE notification_id > %s ORDER BY notification_id LIMIT %s) b"
    ).format(schema)
    update = sql.SQL(
        "UPDATE public.ledger_events e SET topic = r.topic, state = r.state "
        "FROM {}.rewritten r WHERE r.notification_id > %s AND r.notification_id <= %s "
        "AND e.notification_id = r.notification_id "
        "AND e.topic = r.old_topic AND e.state = r.old_state"
    ).format(schema)
    after = 0
    while copied:
        with conn.transaction():
            row = conn.execute(next_batch, (after, BATCH)).fetchone()
            if not row or not row[1]:
                break
            upto, count = int(row[0]), int(row[1])
            done = conn.execute(update, (after, upto)).rowcount
        outcome.updated += done
        outcome.changed += count - done
        after = upto
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{TAIL_LOCK_TIMEOUT}'")
        conn.execute("LOCK TABLE public.ledger_events IN EXCLUSIVE MODE")
        outcome.appended_old = _rewrite_tail(conn, outcome.head)
        outcome.updated += outcome.appended_old
        outcome.snapshots_deleted = _delete_old_snapshots(conn)
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (upcasting.SCAN_LOCK_KEY,))
        conn.execute(f"DELETE FROM {upcasting.SEEN_TABLE}")  # noqa: S608 - constant  # nosec B608
        conn.execute(f"UPDATE {upcasting.SCAN_TABLE} SET checked_through = 0")  # noqa: S608 - constant  # nosec B608


def _rewrite_tail(conn: Conn, head: int) -> int:
    """Rewrites the rows of old versions appended since the copy (under the appends' lock):
    the pairs of an old release still running, whichever they are."""
    rows = conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM public.ledger_events WHERE notification_id > %s",  # noqa: S608 - constant columns  # nosec B608
        (head,),
    ).fetchall()
    pairs = {_stored_pair(row) for row in rows}
    rewrite = {pair for pair in pairs if is_old(*pair) and one_to_one(*pair)}
    changes = [
        (topic, state, position)
        for position, _, _, topic, state in _rewrites(library_mapper(), rows, rewrite)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE public.ledger_events SET topic = %s, state = %s WHERE notification_id = %s",
            changes,
        )
    return len(changes)


def _delete_old_snapshots(conn: Conn) -> int:
    deleted = 0
    for topic, version in upcasting.stored_pairs(conn, (SNAPSHOTS_TABLE,)):
        if is_old(topic, version):
            deleted += conn.execute(
                "DELETE FROM public.ledger_snapshots WHERE topic = %s AND "
                "coalesce((convert_from(state, 'UTF8')::jsonb ->> 'class_version')::int, 1) = %s",
                (topic, version),
            ).rowcount
    return deleted
