"""compose.yaml: Docker Compose itself accepts it (`docker-compose config`, no engine
needed), it matches the compose-spec schema, it refuses to start without its secrets, and
the services are wired in the order the ledger needs."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
import yaml

from tests.ops.conftest import REPO, find_tool

COMPOSE = REPO / "compose.yaml"
SECRETS = {
    "LEDGER_SECRET_KEY": "k" * 48,
    "POSTGRES_PASSWORD": "test-postgres-password",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-password",
}
LEDGER_SERVICES = ("migrate", "api", "projector")


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A clean environment: only PATH and the variables under test, so a developer's own
    # exports cannot make the test pass.
    return subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [find_tool("docker-compose"), "--project-directory", str(REPO), "-f", str(COMPOSE), *args],
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The project as Compose resolves it: anchors merged, variables substituted."""
    result = _compose("config", "--format", "json", env=SECRETS)
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = json.loads(result.stdout)
    return resolved


def test_matches_the_compose_spec_schema() -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [find_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_refuses_to_run_without_each_secret(secret: str) -> None:
    env = {name: value for name, value in SECRETS.items() if name != secret}
    result = _compose("config", "--quiet", env=env)
    assert result.returncode != 0
    assert f"required variable {secret} is missing" in result.stderr


def test_commits_no_secret() -> None:
    text = COMPOSE.read_text()
    for value in SECRETS.values():
        assert value not in text
    environments = [
        service.get("environment", {}) for service in yaml.safe_load(text)["services"].values()
    ]
    for environment in environments:
        for name, value in environment.items():
            if any(word in name for word in ("PASSWORD", "SECRET", "KEY")):
                assert str(value).startswith("${"), f"{name} must come from the environment"


def test_runs_every_process_of_the_ledger(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {
        "postgres", "redis", "migrate", "api", "projector", "prometheus", "grafana",
    }  # fmt: skip
    assert services["migrate"]["command"] == ["ledger", "db", "upgrade"]
    # The API listens on every interface of its own container; compose publishes it on
    # loopback only (test_publishes_only_on_loopback).
    serve = ["ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104
    assert services["api"]["command"][:6] == serve
    # Prometheus scrapes the projector from its own container, so not on loopback; the
    # port is not published outside the compose network.
    project = ["ledger", "projector", "run", "--metrics-host", "0.0.0.0"]  # noqa: S104
    assert services["projector"]["command"] == [*project, "--metrics-port", "9100"]
    assert "ports" not in services["projector"]


def test_postgres_and_redis_are_healthchecked_and_persistent(config: dict[str, Any]) -> None:
    postgres, redis = config["services"]["postgres"], config["services"]["redis"]
    major = int(postgres["image"].split(":")[1].split("-")[0].split(".")[0])
    assert major in {17, 18}
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "ping" in redis["healthcheck"]["test"]
    for service in (postgres, redis):
        assert any(volume["type"] == "volume" for volume in service["volumes"])


def test_starts_in_dependency_order(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "projector"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["redis"]["condition"] == "service_healthy"
    # A one-shot job that restarted would never count as completed.
    assert services["migrate"]["restart"] == "no"


def test_ledger_processes_are_configured_for_production(config: dict[str, Any]) -> None:
    for name in LEDGER_SERVICES:
        service = config["services"][name]
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://ledger:")
        assert env["DATABASE_URL"].endswith("@postgres:5432/ledger")
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["LEDGER_ENV"] == "production"
        assert env["LEDGER_SECRET_KEY"] == SECRETS["LEDGER_SECRET_KEY"]
        assert env["LOG_FORMAT"] == "json"
        assert service["build"]["dockerfile"] == "ops/Dockerfile"
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
    api = config["services"]["api"]
    # The multiprocess metrics folder must be a writable, per-start tmpfs.
    metrics_dir = api["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert any(mount.split(":")[0] == metrics_dir for mount in api["tmpfs"])
    assert "/health" in " ".join(api["healthcheck"]["test"])


def test_publishes_only_on_loopback(config: dict[str, Any]) -> None:
    published = {
        name: [(port["host_ip"], port["target"]) for port in service.get("ports", [])]
        for name, service in config["services"].items()
    }
    assert published["api"] == [("127.0.0.1", 8000)]
    assert published["prometheus"] == [("127.0.0.1", 9090)]
    assert published["grafana"] == [("127.0.0.1", 3000)]
    assert published["postgres"] == published["redis"] == []


def test_mounts_the_monitoring_config_from_the_repository(config: dict[str, Any]) -> None:
    mounts = {
        volume["target"]: volume["source"]
        for name in ("prometheus", "grafana")
        for volume in config["services"][name]["volumes"]
        if volume["type"] == "bind"
    }
    assert mounts == {
        "/etc/prometheus": str(REPO / "ops" / "prometheus"),
        "/etc/grafana/provisioning": str(REPO / "ops" / "grafana" / "provisioning"),
        "/etc/grafana/dashboards": str(REPO / "ops" / "grafana" / "dashboards"),
    }
    provider = yaml.safe_load(
        (REPO / "ops" / "grafana" / "provisioning" / "dashboards" / "ledger.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
