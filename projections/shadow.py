"""A rebuild's shadow tables: each live table's twin, named with the SHADOW suffix, created
empty beside it, filled by the rebuild and swapped in by projections.swap (or dropped).

A shadow table gets its primary key and unique constraints at once (the upserts and the
duplicate checks need them), and its plain indexes after the bulk of the load: building an
index over a full table is much cheaper than updating it row by row. The shadow's dead letters
are filed under the projection's name with the suffix."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from projections import store
from projections.base import Projection
from projections.changes import Table
from projections.store import Conn

SHADOW = "__rebuild"


@dataclass(frozen=True)
class Layout:
    """The shadow tables' column types (name -> type oid, for COPY), and the plain indexes to
    build once they are full."""

    types: dict[Table, dict[str, int]]
    indexes: list[sql.SQL]


def dead_letters(projection: Projection) -> str:
    """The name the shadow's dead letters are filed under."""
    return projection.name + SHADOW


def create(conn: Conn, projection: Projection) -> Layout:
    """Creates the projection's shadow tables empty (dropping any left over) without their
    plain indexes, and clears the shadow's dead letters."""
    types: dict[Table, dict[str, int]] = {}
    indexes: list[sql.SQL] = []
    for table in projection.tables:
        live, shadow = sql.Identifier(table.name), sql.Identifier(table.name + SHADOW)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(shadow))
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(shadow, live))
        rows = conn.execute(
            "SELECT attname, atttypid::int FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table.name + SHADOW,),
        ).fetchall()
        types[table] = {str(name): int(oid) for name, oid in rows}
        plain = conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
            "ORDER BY c.relname",
            (table.name + SHADOW,),
        ).fetchall()
        for name, definition in plain:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
            indexes.append(sql.SQL(definition))
    store.drop_dead_letters(conn, dead_letters(projection))
    return Layout(types, indexes)


def build_indexes(conn: Conn, layout: Layout) -> None:
    """The plain indexes `create` left out, each built once over its full table."""
    for definition in layout.indexes:
        conn.execute(definition)


def drop(conn: Conn, projection: Projection) -> None:
    """Drops the projection's shadow tables and the shadow's dead letters."""
    for table in projection.tables:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table.name + SHADOW)))
    store.drop_dead_letters(conn, dead_letters(projection))
