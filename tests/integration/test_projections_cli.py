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
    assert all(f"rebuilt from {events} events" in line for line in summary)
    # Not a terminal: plain progress lines on stderr, the last one complete.
    progress = [line for line in done.stderr.splitlines() if " events/s, ETA " in line]
    for name in PROJECTIONS:
        assert f"{name}: {events}/{events} events" in "\n".join(progress)
    assert snapshot(database_url) == before


def test_rebuild_of_an_unknown_projection_fails_with_one_line(
    database_url: str, tmp_path: Path
) -> None:
    failed = run_cli(database_url, tmp_path, "projections", "rebuild", "nope")
    assert failed.returncode == 1
    assert failed.stdout == ""
    lines = failed.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ledger: unknown projection nope (known: products, users")
