"""Folding a batch's row changes in memory: what `Changes` will write, without a database.

`pending` reads the folded state (upserts, patches, accumulations per key) that `flush` turns
into SQL; the property test checks that writing the folded batch has the same effect as
applying every change one at a time, the way a batch of one event at a time would."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.changes import Changes, Key, Row, Table

ITEMS = Table("items", key=("id",), columns=("id", "name", "count", "price"))
DAILY = Table(
    "daily", key=("day", "kind"), columns=("day", "kind", "n", "sum"), counters=("n", "sum")
)

Folded = dict[str, dict[Key, Any]]


def pending(changes: Changes, table: Table) -> Folded:
    """The folded changes to one table: {"upserts": {key: row}, "patches": {key: (set, inc)},
    "accumulations": {key: row}}."""
    # The private state is read on purpose: it is exactly what flush turns into statements.
    folded = changes._tables.get(table)
    if folded is None:
        return {"upserts": {}, "patches": {}, "accumulations": {}}
    return {
        "upserts": folded.upserts,
        "patches": {k: (p.set, p.inc) for k, p in folded.patches.items()},
        "accumulations": folded.accumulations,
    }


def test_an_empty_batch_is_false_and_a_change_makes_it_true() -> None:
    changes = Changes()
    assert not changes
    changes.accumulate(DAILY, {"day": "d1", "kind": "x", "n": 1, "sum": 5})
    assert changes


def test_upsert_then_patch_folds_into_the_upserted_row() -> None:
    changes = Changes()
    changes.upsert(ITEMS, {"id": 1, "name": "a", "count": 3, "price": 10})
    changes.patch(ITEMS, (1,), set={"name": "b"}, inc={"count": 2})
    assert pending(changes, ITEMS) == {
        "upserts": {(1,): {"id": 1, "name": "b", "count": 5, "price": 10}},
        "patches": {},
        "accumulations": {},
    }


def test_patch_then_patch_merges_sets_last_wins_and_sums_increments() -> None:
    changes = Changes()
    changes.patch(ITEMS, (1,), set={"name": "b", "price": 1}, inc={"count": 2})
    changes.patch(ITEMS, (1,), set={"name": "c"}, inc={"count": 3})
    changes.patch(ITEMS, (2,), set={"price": 7})
    assert pending(changes, ITEMS)["patches"] == {
        (1,): ({"name": "c", "price": 1}, {"count": 5}),
        (2,): ({"price": 7}, {}),
    }


def test_an_upsert_replaces_earlier_patches_of_its_row() -> None:
    changes = Changes()
    changes.patch(ITEMS, (1,), set={"name": "old"}, inc={"count": 9})
    changes.upsert(ITEMS, {"id": 1, "name": "new", "count": 0, "price": 3})
    assert pending(changes, ITEMS) == {
        "upserts": {(1,): {"id": 1, "name": "new", "count": 0, "price": 3}},
        "patches": {},
        "accumulations": {},
    }


def test_accumulate_sums_the_counters_per_key() -> None:
    changes = Changes()
    changes.accumulate(DAILY, {"day": "d1", "kind": "x", "n": 1, "sum": 5})
    changes.accumulate(DAILY, {"day": "d1", "kind": "x", "n": 2, "sum": 7})
    changes.accumulate(DAILY, {"day": "d2", "kind": "x", "n": 1, "sum": 1})
    assert pending(changes, DAILY)["accumulations"] == {
        ("d1", "x"): {"day": "d1", "kind": "x", "n": 3, "sum": 12},
        ("d2", "x"): {"day": "d2", "kind": "x", "n": 1, "sum": 1},
    }


def test_merge_folds_events_in_their_order() -> None:
    created, renamed, recreated = Changes(), Changes(), Changes()
    created.upsert(ITEMS, {"id": 1, "name": "a", "count": 1, "price": 1})
    renamed.patch(ITEMS, (1,), set={"name": "b"}, inc={"count": 1})
    renamed.patch(ITEMS, (2,), set={"name": "z"})
    recreated.upsert(ITEMS, {"id": 2, "name": "y", "count": 0, "price": 2})

    batch = Changes()
    for one in (created, renamed, recreated):
        batch.merge(one)
    assert pending(batch, ITEMS) == {
        "upserts": {
            (1,): {"id": 1, "name": "b", "count": 2, "price": 1},
            (2,): {"id": 2, "name": "y", "count": 0, "price": 2},
        },
        "patches": {},
        "accumulations": {},
    }
    # The other order: the later patch survives the earlier upsert.
    batch = Changes()
    for one in (recreated, renamed):
        batch.merge(one)
    assert pending(batch, ITEMS)["upserts"][(2,)]["name"] == "z"


def test_merging_does_not_alias_the_events_rows() -> None:
    row = {"id": 1, "name": "a", "count": 1, "price": 1}
    one = Changes()
    one.upsert(ITEMS, row)
    batch = Changes()
    batch.merge(one)
    batch.patch(ITEMS, (1,), inc={"count": 5})
    assert row["count"] == 1
    assert pending(one, ITEMS)["upserts"][(1,)]["count"] == 1


# A reference: each change applied on its own to an in-memory table, as SQL would.
Db = dict[str, dict[Key, Row]]

item_ids = st.integers(1, 3)
upserts = st.builds(
    lambda i, n, c: ("upsert", {"id": i, "name": n, "count": c, "price": 1}),
    item_ids,
    st.sampled_from("abc"),
    st.integers(0, 5),
)
patches = st.builds(
    lambda i, s, inc: ("patch", ((i,), s, inc)),
    item_ids,
    st.dictionaries(st.sampled_from(["name", "price"]), st.integers(0, 9).map(str)),
    st.dictionaries(st.just("count"), st.integers(-3, 3)),
)
accumulations = st.builds(
    lambda d, n, s: ("accumulate", {"day": d, "kind": "k", "n": n, "sum": s}),
    st.sampled_from(["d1", "d2"]),
    st.integers(0, 3),
    st.integers(-5, 5),
)
operations = st.lists(st.one_of(upserts, patches, accumulations), max_size=25)


def _apply_one(db: Db, op: str, arg: Any) -> None:
    if op == "upsert":
        db["items"][ITEMS.key_of(arg)] = dict(arg)
    elif op == "patch":
        key, set_, inc = arg
        row = db["items"].get(key)
        if row is not None:  # UPDATE ... WHERE key: nothing when the row does not exist
            row.update(set_)
            for column, amount in inc.items():
                row[column] += amount
    else:
        key = DAILY.key_of(arg)
        existing = db["daily"].get(key)
        if existing is None:
            db["daily"][key] = dict(arg)
        else:
            for column in DAILY.counters:
                existing[column] += arg[column]


def _write_folded(db: Db, changes: Changes) -> None:
    """What flush's statements do: upserts, then patches, then accumulations."""
    items, daily = pending(changes, ITEMS), pending(changes, DAILY)
    for row in items["upserts"].values():
        _apply_one(db, "upsert", row)
    for key, (set_, inc) in items["patches"].items():
        _apply_one(db, "patch", (key, set_, inc))
    for row in daily["accumulations"].values():
        _apply_one(db, "accumulate", row)


@settings(max_examples=200, deadline=None)
@given(
    existing=st.dictionaries(item_ids, st.integers(0, 5), max_size=3),
    ops=operations,
    per_event=st.booleans(),
)
def test_a_folded_batch_writes_what_its_changes_one_by_one_would(
    existing: dict[int, int], ops: list[tuple[str, Any]], per_event: bool
) -> None:
    def start() -> Db:
        rows = {(i,): {"id": i, "name": "x", "count": c, "price": "0"} for i, c in existing.items()}
        return {"items": rows, "daily": {}}

    one_by_one = start()
    for op, arg in ops:
        _apply_one(one_by_one, op, arg)

    batch = Changes()
    for op, arg in ops:
        target = Changes() if per_event else batch
        if op == "upsert":
            target.upsert(ITEMS, arg)
        elif op == "patch":
            key, set_, inc = arg
            target.patch(ITEMS, key, set=set_, inc=inc)
        else:
            target.accumulate(DAILY, arg)
        if per_event:
            batch.merge(target)
    folded = start()
    _write_folded(folded, batch)
    assert folded == one_by_one
