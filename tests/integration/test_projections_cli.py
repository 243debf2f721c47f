"""`ledger projections status --json` and `ledger projections rebuild`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import projections
from ledger.application import Ledger
from projections.registry import PROJECTIONS
from tests.projector_process import create_product, head, place_order, run_cli, snapshot


def test_status_json_shows_state_and_lag(ledger: Ledger, database_url: str, tmp_path: Path) -> None:
    create_product(ledger, "prod_a")
    place_order(ledger, "ord_a", {"prod_a": 1})
    behind = run_cli(database_url, tmp_path, "projections", "status", "--json")
    assert behind.returncode == 0, behind.stderr
    statuses = {s["name"]: s for s in json.loads(behind.stdout)}
    assert list(statuses) == list(PROJECTIONS)
    events = head(database_url)
    for status in statuses.values():
        # Nobody runs the projectors: every one is behind by the whole store.
        assert (status["state"], status["position"], status["head"]) == ("stopped", 0, events)
        assert status["lag_events"] == events
        assert status["lag_seconds"] >= 0
        assert status["dead_letters"] == 0

    projections.catch_up(database_url)
    current = run_cli(database_url, tmp_path, "projections", "status", "--json")
    for status in json.loads(current.stdout):
        assert (status["state"], status["position"], status["lag_events"]) == ("idle", events, 0)
        assert status["lag_seconds"] == 0


def test_rebuild_all_reports_progress_lines_and_keeps_the_tables(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    create_product(ledger, "prod_a")
    place_order(ledger, "ord_a", {"prod_a": 2})
    projections.catch_up(database_url)
    before = snapshot(database_url)
    events = head(database_url)

    done = run_cli(database_url, tmp_path, "projections", "rebuild", "--all")

    assert done.returncode == 0, done.stderr
    summary = done.stdout.splitlines()
    assert [line.split(":")[0] for line in summary] == list(PROJECTIONS)
    # The progress and the summary count the same thing, store positions, and say so.
    assert all(f"rebuilt through store position {events:,} in " in line for line in summary)
    # The summary's rate is the last one the progress showed.
    shown = {line.split(":")[0]: line.rsplit(", ", 2)[1] for line in done.stderr.splitlines()}
    for line in summary:
        name = line.split(":")[0]
        assert line.endswith(f" (filled at {shown[name]})"), (line, shown)
    # Not a terminal: plain progress lines on stderr, the last one complete.
    progress = [line for line in done.stderr.splitlines() if " positions/s, ETA " in line]
    for name in PROJECTIONS:
        assert f"{name}: {events:,}/{events:,} store positions" in "\n".join(progress)
    assert snapshot(database_url) == before


def test_rebuild_of_an_unknown_projection_is_a_usage_error(
    database_url: str, tmp_path: Path
) -> None:
    failed = run_cli(database_url, tmp_path, "projections", "rebuild", "nope")
    assert failed.returncode == 2
    assert failed.stdout == ""
    lines = failed.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ledger: unknown projection nope (known: products, users")
    assert lines[0].endswith("; see ledger projections rebuild --help")


def test_rebuild_refuses_names_and_all_together(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    create_product(ledger, "prod_a")
    projections.catch_up(database_url)
    refused = run_cli(database_url, tmp_path, "projections", "rebuild", "orders", "--all")
    assert refused.returncode == 2, refused
    assert refused.stdout == ""
    assert refused.stderr.strip() == (
        "ledger: name projections or give --all, not both; see ledger projections rebuild --help"
    )
