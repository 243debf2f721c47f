"""Prometheus: the scrape config and the alert rules are valid for promtool, every alert
behaves as its unit tests say, and every expression names metrics the ledger exports."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import REPO, find_tool
from tests.ops.promql import MetricCatalogue

PROMETHEUS = REPO / "ops" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = Path(__file__).with_name("alerts_test.yml")


def _promtool(*args: str, cwd: Path = REPO) -> str:
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [find_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_config_is_valid() -> None:
    out = _promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert "1 rule files found" in out


def test_rules_are_valid() -> None:
    _promtool("check", "rules", str(RULES))


def test_alerts_fire_as_their_unit_tests_say() -> None:
    # Relative rule paths in the test file resolve from its own folder.
    out = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert "SUCCESS" in out


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert {rule["alert"] for rule in _alerts()} == tested


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: rule["alert"])
def test_alert_names_real_metrics_and_labels(
    rule: dict[str, Any], metrics: MetricCatalogue
) -> None:
    assert metrics.unknown_metrics(rule["expr"]) == set()
    assert metrics.unknown_labels(rule["expr"]) == set()


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: rule["alert"])
def test_alert_tells_the_operator_what_and_how_bad(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]


def test_the_required_conditions_are_alerted_on() -> None:
    exprs = {rule["alert"]: " ".join(rule["expr"].split()) for rule in _alerts()}
    everything = "\n".join(exprs.values())
    for metric in (
        "ledger_projection_lag_events",
        "ledger_projection_lag_seconds",
        "ledger_projection_dead_letters",
    ):
        assert metric in everything
    assert 'status=~"5.."' in exprs["LedgerHttpErrorRate"]
    assert "histogram_quantile(0.99," in exprs["LedgerHttpLatencyP99"]
    assert "http_request_duration_seconds_bucket" in exprs["LedgerHttpLatencyP99"]
    assert 'up{job="ledger-api"} == 0' in exprs["LedgerApiDown"]


def test_scrapes_the_api_and_projector_where_compose_runs_them() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets["ledger-api"] == ["api:8000", "api-2:8000"]
    assert targets["ledger-projector"] == ["projector:9100"]
    assert config["rule_files"] == [RULES.name]
