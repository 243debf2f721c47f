"""The GitHub workflow: valid against the GitHub workflow schema (vendored by
check-jsonschema, so no network), running every command .ci/run runs, with PostgreSQL and
Redis service containers for the tests, the security scans, and an image build that
never pushes."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.ops.conftest import REPO, find_tool

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def _workflow() -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as True; the tests only need the jobs.
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _run_lines(job: dict[str, Any]) -> list[str]:
    return [
        line.strip()
        for step in job["steps"]
        for line in step.get("run", "").splitlines()
        if line.strip()
    ]


def _ci_run_commands() -> list[str]:
    """The checks in .ci/run: its `uv ...` and `make ...` lines."""
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.startswith(("uv ", "make "))]


def test_matches_the_github_workflow_schema() -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            find_tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_reads_ci_run() -> None:
    assert "make test" in _ci_run_commands()
    assert "uv run mypy" in _ci_run_commands()


def test_ci_fails_on_any_skip() -> None:
    # Both install every tool a test needs, so a skip means a tool is missing: a failure.
    assert "export LEDGER_TEST_SKIPS_FAIL=1" in (REPO / ".ci" / "run").read_text()
    assert _workflow()["jobs"]["tests"]["env"]["LEDGER_TEST_SKIPS_FAIL"] == "1"


@pytest.mark.parametrize("command", _ci_run_commands())
def test_runs_every_check_of_ci_run(command: str) -> None:
    everything = [line for job in _workflow()["jobs"].values() for line in _run_lines(job)]
    assert command in everything


def test_tests_run_against_postgres_and_redis_services() -> None:
    job = _workflow()["jobs"]["tests"]
    postgres, redis = job["services"]["postgres"], job["services"]["redis"]
    assert postgres["image"].startswith("postgres:17")
    assert "pg_isready" in postgres["options"]
    assert redis["image"].startswith("redis:")
    assert "redis-cli ping" in redis["options"]
    assert job["env"]["LEDGER_TEST_DATABASE_URL"].startswith("postgresql://")
    assert job["env"]["LEDGER_TEST_DATABASE_URL"].endswith("@127.0.0.1:5432/ledger")
    assert job["env"]["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert "make test" in _run_lines(job)
    # The ops tier needs promtool, which comes from the prometheus package.
    assert any("install" in line and "prometheus" in line for line in _run_lines(job))


def test_scans_the_code_and_the_locked_dependencies() -> None:
    lines = " ".join(_run_lines(_workflow()["jobs"]["security"]))
    # The audit script CI runs too, strict here since the advisory database is reachable.
    assert "ops/scripts/audit" in lines
    assert "AUDIT_OFFLINE_OK" not in lines
    script = (REPO / "ops" / "scripts" / "audit").read_text()
    assert "uv run bandit" in script
    assert "uv export --frozen --no-dev" in script
    assert "pip-audit --requirement" in script


def test_builds_the_image_without_pushing() -> None:
    steps = _workflow()["jobs"]["image"]["steps"]
    (build,) = [
        step for step in steps if step.get("uses", "").startswith("docker/build-push-action@")
    ]
    assert build["with"]["file"] == "ops/Dockerfile"
    assert build["with"]["push"] is False


def test_actions_are_pinned_and_permissions_read_only() -> None:
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        assert job["timeout-minutes"] > 0
        for step in job["steps"]:
            if "uses" in step:
                _, _, ref = step["uses"].partition("@")
                assert ref.startswith("v"), step["uses"]
