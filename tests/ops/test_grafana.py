"""The Grafana provisioning: one Prometheus data source, a file provider, and a dashboard
whose every panel queries metrics the ledger exports, through that data source, with
expressions Prometheus can parse."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import REPO, find_tool
from tests.ops.promql import MetricCatalogue, metric_names

GRAFANA = REPO / "ops" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "ledger.json"


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [panel for panel in _dashboard()["panels"] if panel["type"] != "row"]


def _exprs() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def test_provisions_prometheus_as_the_default_data_source() -> None:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = config["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True


def test_every_panel_queries_the_provisioned_data_source() -> None:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = config["datasources"][0]["uid"]
    for panel in _panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
            assert target["expr"].strip()


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    panels = _dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize("expr", _exprs())
def test_queries_name_real_metrics_and_labels(expr: str, metrics: MetricCatalogue) -> None:
    assert metrics.unknown_metrics(expr) == set()
    assert metrics.unknown_labels(expr) == set()


def test_shows_every_metric_the_operators_watch() -> None:
    shown = set().union(*(metric_names(expr) for expr in _exprs()))
    assert shown >= {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "ledger_commands_total",
        "ledger_events_appended_total",
        "ledger_projection_lag_events",
        "ledger_projection_lag_seconds",
        "ledger_projection_dead_letters",
        "ledger_db_pool_connections",
    }
    latency = " ".join(expr for expr in _exprs() if "http_request_duration" in expr)
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in latency


def test_prometheus_parses_every_query(tmp_path: Path) -> None:
    # promtool parses recording rules, so each panel query becomes one; Grafana's
    # $__rate_interval becomes a literal range first.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {
                        "record": f"dashboard:query_{i}",
                        "expr": expr.replace("$__rate_interval", "1m"),
                    }
                    for i, expr in enumerate(_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [find_tool("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_exprs())} rules found" in result.stdout
