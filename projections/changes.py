"""A batch of row changes, folded in memory and written with set-based statements.

Handlers describe what an event does to the read tables (`upsert` a whole row, `patch` some
columns of an existing row, `accumulate` counters into a row that may not exist yet, and,
rarely, `update_where`: set columns on every row with a column's value, after the rest). Changes
to the same row within a batch fold into one, and each kind of change to a table becomes one
statement over `jsonb_populate_recordset`, however many rows it touches: a live batch of one
event and a rebuild batch of fifty thousand take the same code path, so they agree."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_dumps

Key = tuple[Any, ...]
Row = dict[str, Any]
# The upsert and patch statements, composed once per table, target and set of columns: a
# live step writes the same few shapes over and over.
STATEMENT_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Table:
    """A read table: its name, primary key, and the columns projections write."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    # Columns that `accumulate` adds up (for counter tables such as daily sales).
    counters: tuple[str, ...] = ()
    _key_of: Callable[[Row], Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        getter = itemgetter(*self.key)
        single: Callable[[Row], Key] = lambda row: (getter(row),)  # noqa: E731
        object.__setattr__(self, "_key_of", single if len(self.key) == 1 else getter)

    def __hash__(self) -> int:
        # Every change looks its table up by hash: the name's (cached by the string) instead
        # of one over all the fields. Equal tables have equal names, so this stays consistent.
        return hash(self.name)

    def key_of(self, row: Row) -> Key:
        return self._key_of(row)


@dataclass
class _Patch:
    set: Row = field(default_factory=dict)
    inc: dict[str, int] = field(default_factory=dict)


@dataclass
class _TableChanges:
    upserts: dict[Key, Row] = field(default_factory=dict)
    patches: dict[Key, _Patch] = field(default_factory=dict)
    accumulations: dict[Key, Row] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.patches or self.accumulations)


@dataclass(frozen=True)
class _Sweep:
    """Columns set on every row of `table` whose `column` is `value`."""

    table: Table
    column: str
    value: Any
    set: Row


class Changes:
    """Row changes for one batch, folded per primary key."""

    def __init__(self) -> None:
        self._tables: dict[Table, _TableChanges] = {}
        self._sweeps: list[_Sweep] = []

    def __bool__(self) -> bool:
        return bool(self._sweeps) or any(self._tables.values())

    def _of(self, table: Table) -> _TableChanges:
        changes = self._tables.get(table)
        if changes is None:
            changes = self._tables[table] = _TableChanges()
        return changes

    def upsert(self, table: Table, row: Row) -> None:
        """Writes a whole row, replacing any earlier version of it."""
        changes = self._of(table)
        key = table.key_of(row)
        changes.patches.pop(key, None)
        changes.upserts[key] = dict(row)

    def patch(
        self, table: Table, key: Key, set: Row | None = None, inc: dict[str, int] | None = None
    ) -> None:
        """Sets some columns and adds to others, on a row that already exists."""
        changes = self._of(table)
        pending = changes.upserts.get(key)
        if pending is not None:
            pending.update(set or {})
            for column, amount in (inc or {}).items():
                pending[column] += amount
            return
        patch = changes.patches.setdefault(key, _Patch())
        patch.set.update(set or {})
        for column, amount in (inc or {}).items():
            patch.inc[column] = patch.inc.get(column, 0) + amount

    def accumulate(self, table: Table, row: Row) -> None:
        """Adds the table's counters of `row` into the row with its key, creating it when
        missing."""
        changes = self._of(table)
        key = table.key_of(row)
        pending = changes.accumulations.get(key)
        if pending is None:
            changes.accumulations[key] = dict(row)
            return
        for column in table.counters:
            pending[column] += row[column]

    def update_where(self, table: Table, column: str, value: Any, set: Row) -> None:
        """Sets columns on every row whose `column` is `value`, once the batch's other changes
        are written (so rows the batch wrote are included)."""
        if column not in table.columns or not set.keys() <= frozenset(table.columns):
            raise ValueError(f"update_where on {table.name}: unknown columns")
        self._sweeps.append(_Sweep(table, column, value, dict(set)))

    def merge(self, other: Changes) -> None:
        """Folds `other` (one event's changes) into this batch, in order."""
        self._sweeps += other._sweeps
        for table, theirs in other._tables.items():
            for row in theirs.upserts.values():
                self.upsert(table, row)
            for key, patch in theirs.patches.items():
                self.patch(table, key, patch.set, patch.inc)
            for row in theirs.accumulations.values():
                self.accumulate(table, row)

    def flush(
        self,
        conn: psycopg.Connection[Any],
        suffix: str = "",
        copy: Mapping[Table, Mapping[str, int]] | None = None,
    ) -> int:
        """Writes every change; `suffix` targets shadow tables during a rebuild. Returns the
        number of statements executed.

        `copy` maps tables to their column types (name -> type oid): those tables' upserts
        are loaded with COPY instead, which is only right when none of their keys is in the
        table yet (a rebuild's shadow tables, where the caller falls back to a plain flush if
        COPY meets a duplicate key). On an error nothing is cleared, so the caller may roll
        back and flush again."""
        statements = 0
        with conn.cursor() as cur:
            for table, changes in self._tables.items():
                target = sql.Identifier(table.name + suffix)
                if changes.upserts:
                    rows = list(changes.upserts.values())
                    types = copy.get(table) if copy else None
                    if types is None:
                        _insert(cur, table, suffix, rows, add=False)
                    else:
                        _copy(cur, table, target, rows, types)
                    statements += 1
                for (set_cols, inc_cols), rows in _group_patches(table, changes.patches).items():
                    _patch(cur, table, suffix, set_cols, inc_cols, rows)
                    statements += 1
                if changes.accumulations:
                    _insert(cur, table, suffix, list(changes.accumulations.values()), add=True)
                    statements += 1
            for sweep in self._sweeps:
                _sweep(cur, sweep, sql.Identifier(sweep.table.name + suffix))
                statements += 1
        self._tables.clear()
        self._sweeps.clear()
        return statements


def _json(rows: list[Row]) -> str:
    return orjson.dumps(rows, default=_encode).decode()


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _recordset(target: sql.Identifier) -> sql.Composed:
    return sql.SQL("jsonb_populate_recordset(NULL::{}, %s::jsonb)").format(target)


def _insert(
    cur: psycopg.Cursor[Any],
    table: Table,
    suffix: str,
    rows: list[Row],
    *,
    add: bool,
) -> None:
    """Inserts `rows` into the table (`suffix`: its shadow); a row whose key exists is
    replaced (`add=False`) or has the table's counters added to it (`add=True`)."""
    columns = tuple(c for c in table.columns if c in rows[0])
    cur.execute(_insert_statement(table, suffix, columns, add), (_json(rows),))


@lru_cache(maxsize=STATEMENT_CACHE_SIZE)
def _insert_statement(table: Table, suffix: str, columns: tuple[str, ...], add: bool) -> bytes:
    target = sql.Identifier(table.name + suffix)
    if add:
        on_conflict = [
            sql.SQL("{0} = t.{0} + EXCLUDED.{0}").format(sql.Identifier(c))
            for c in table.counters
            if c in columns
        ]
    else:
        on_conflict = [
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
            for c in columns
            if c not in table.key
        ]
    return (
        sql.SQL(
            "INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {source} "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}"
        )
        .format(
            target=target,
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            source=_recordset(target),
            key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
            updates=sql.SQL(", ").join(on_conflict),
        )
        .as_bytes()
    )


def _copy(
    cur: psycopg.Cursor[Any],
    table: Table,
    target: sql.Identifier,
    rows: list[Row],
    types: Mapping[str, int],
) -> None:
    """Loads new `rows` with COPY. Values go through psycopg's dumpers for each column's
    type, as the JSON path's values go through PostgreSQL's input functions: the same text
    for the same value (JSON columns through orjson, as `_json` writes them)."""
    columns = [c for c in table.columns if c in rows[0]]
    statement = sql.SQL("COPY {target} ({cols}) FROM STDIN").format(
        target=target, cols=sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    set_json_dumps(_json_value, context=cur)
    getter = itemgetter(*columns)
    with cur.copy(statement) as copy:
        copy.set_types([types[c] for c in columns])
        if len(columns) == 1:
            for row in rows:
                copy.write_row((getter(row),))
        else:
            for row in rows:
                copy.write_row(getter(row))


def _json_value(value: Any) -> bytes:
    return orjson.dumps(value, default=_encode)


def _sweep(cur: psycopg.Cursor[Any], sweep: _Sweep, target: sql.Identifier) -> None:
    columns = list(sweep.set)
    statement = sql.SQL("UPDATE {target} SET {assignments} WHERE {column} = %s").format(
        target=target,
        assignments=sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns
        ),
        column=sql.Identifier(sweep.column),
    )
    values = [Jsonb(v) if isinstance(v, dict) else v for v in sweep.set.values()]
    cur.execute(statement, (*values, sweep.value))


def _group_patches(
    table: Table, patches: dict[Key, _Patch]
) -> dict[tuple[tuple[str, ...], tuple[str, ...]], list[Row]]:
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Row]] = {}
    for key, patch in patches.items():
        signature = (tuple(sorted(patch.set)), tuple(sorted(patch.inc)))
        row = dict(zip(table.key, key, strict=True))
        row.update(patch.set)
        row.update(patch.inc)
        groups.setdefault(signature, []).append(row)
    return groups


def _patch(
    cur: psycopg.Cursor[Any],
    table: Table,
    suffix: str,
    set_cols: tuple[str, ...],
    inc_cols: tuple[str, ...],
    rows: list[Row],
) -> None:
    cur.execute(_patch_statement(table, suffix, set_cols, inc_cols), (_json(rows),))


@lru_cache(maxsize=STATEMENT_CACHE_SIZE)
def _patch_statement(
    table: Table, suffix: str, set_cols: tuple[str, ...], inc_cols: tuple[str, ...]
) -> bytes:
    target = sql.Identifier(table.name + suffix)
    assignments = [sql.SQL("{0} = v.{0}").format(sql.Identifier(c)) for c in set_cols]
    assignments += [sql.SQL("{0} = t.{0} + v.{0}").format(sql.Identifier(c)) for c in inc_cols]
    return (
        sql.SQL("UPDATE {target} AS t SET {assignments} FROM {source} AS v WHERE {match}")
        .format(
            target=target,
            assignments=sql.SQL(", ").join(assignments),
            source=_recordset(target),
            match=sql.SQL(" AND ").join(
                sql.SQL("t.{0} = v.{0}").format(sql.Identifier(k)) for k in table.key
            ),
        )
        .as_bytes()
    )
