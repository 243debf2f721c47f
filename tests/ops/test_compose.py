"""compose.yaml and compose.host.yaml: Docker Compose itself accepts them (`docker-compose
config`, no engine needed), they match the compose-spec schema, they refuse to start without
their secrets, the services are wired in the order the ledger needs (a primary and its
streaming replica, two API containers), and the host-networking file runs the ledger's
processes exactly as compose.yaml does. tests/ops/test_containers.py runs them for real."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.compose import COMPOSE, COMPOSE_HOST, HOST_SETTINGS, SECRETS, compose, resolved
from tests.ops.conftest import REPO, find_tool

LEDGER_SERVICES = ("migrate", "api", "api-2", "projector")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return resolved(COMPOSE, SECRETS)


@pytest.fixture(scope="module")
def host_config() -> dict[str, Any]:
    return resolved(COMPOSE_HOST, HOST_SETTINGS)


@pytest.mark.parametrize("file", [COMPOSE, COMPOSE_HOST], ids=lambda file: file.name)
def test_matches_the_compose_spec_schema(file: Path) -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [find_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("file", "settings", "secret"),
    [(COMPOSE, SECRETS, name) for name in sorted(SECRETS)]
    + [(COMPOSE_HOST, HOST_SETTINGS, name) for name in sorted(HOST_SETTINGS)],
    ids=lambda value: value.name if isinstance(value, Path) else str(value)[:24],
)
def test_refuses_to_run_without_each_secret(
    file: Path, settings: dict[str, str], secret: str
) -> None:
    env = {name: value for name, value in settings.items() if name != secret}
    result = compose(file, "config", "--quiet", env=env)
    assert result.returncode != 0
    assert f"required variable {secret} is missing" in result.stderr


@pytest.mark.parametrize("file", [COMPOSE, COMPOSE_HOST], ids=lambda file: file.name)
def test_commits_no_secret(file: Path) -> None:
    text = file.read_text()
    for value in (*SECRETS.values(), HOST_SETTINGS["LEDGER_SECRET_KEY"]):
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
        "postgres", "postgres-replica", "redis", "migrate", "api", "api-2", "projector",
        "prometheus", "grafana",
    }  # fmt: skip
    assert services["migrate"]["command"] == ["ledger", "db", "upgrade"]
    # The API listens on every interface of its own container; compose publishes it on
    # loopback only (test_publishes_only_on_loopback). Two containers, one configuration.
    serve = ["ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104
    assert services["api"]["command"][:6] == serve
    assert services["api-2"]["command"] == services["api"]["command"]
    assert {**services["api-2"], "ports": []} == {**services["api"], "ports": []}
    # Prometheus scrapes the projector from its own container, so not on loopback; the
    # port is not published outside the compose network.
    project = ["ledger", "projector", "run", "--metrics-host", "0.0.0.0"]  # noqa: S104
    assert services["projector"]["command"] == [*project, "--metrics-port", "9100"]
    assert "ports" not in services["projector"]


def test_postgres_and_redis_are_healthchecked_and_persistent(config: dict[str, Any]) -> None:
    services = config["services"]
    postgres, replica, redis = services["postgres"], services["postgres-replica"], services["redis"]
    major = int(postgres["image"].split(":")[1].split("-")[0].split(".")[0])
    assert major in {17, 18}
    for server in (postgres, replica):
        assert "pg_isready" in " ".join(server["healthcheck"]["test"])
    assert "ping" in redis["healthcheck"]["test"]
    volumes = [
        volume["source"]
        for service in (postgres, replica, redis)
        for volume in service["volumes"]
        if volume["type"] == "volume"
    ]
    assert len(volumes) == len(set(volumes)) == 3, "each server keeps its own data volume"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    return {
        volume["target"]: volume["source"]
        for volume in service["volumes"]
        if volume["type"] == "bind"
    }


def test_the_replica_streams_from_the_primary(config: dict[str, Any]) -> None:
    postgres, replica = config["services"]["postgres"], config["services"]["postgres-replica"]
    # The same server release, or a base backup would not start.
    assert replica["image"] == postgres["image"]
    # The primary's first start allows replication and keeps the replica's slot ...
    init = "/docker-entrypoint-initdb.d/allow-replication.sh"
    assert _mounts(postgres)[init] == str(REPO / "ops" / "postgres" / "allow-replication.sh")
    assert "max_slot_wal_keep_size=8GB" in postgres["command"]
    # ... and the replica's first start copies the primary with pg_basebackup -R.
    assert _mounts(replica)["/etc/ledger/postgres"] == str(REPO / "ops" / "postgres")
    assert replica["entrypoint"] == ["bash", "/etc/ledger/postgres/replica.sh"]
    script = (REPO / "ops" / "postgres" / "replica.sh").read_text()
    assert "pg_basebackup" in script
    assert "--write-recovery-conf" in script
    env = replica["environment"]
    assert env["PRIMARY_HOST"] == "postgres"
    assert env["REPLICATION_SLOT"] == postgres["environment"]["REPLICATION_SLOT"]
    assert env["PGUSER"] == postgres["environment"]["POSTGRES_USER"]
    assert env["PGPASSWORD"] == postgres["environment"]["POSTGRES_PASSWORD"]
    # pg_basebackup makes a folder inside the volume, with the mode postgres requires.
    (volume,) = [v["target"] for v in replica["volumes"] if v["type"] == "volume"]
    assert Path(env["PGDATA"]).parent == Path(volume)
    assert replica["user"] == "postgres"
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_api_reads_from_the_replica_and_writes_to_the_primary(
    config: dict[str, Any],
) -> None:
    password = SECRETS["POSTGRES_PASSWORD"]
    for name in ("api", "api-2"):
        env = config["services"][name]["environment"]
        replica_url = f"postgresql://ledger:{password}@postgres-replica:5432/ledger"
        assert env["DATABASE_REPLICA_URL"] == replica_url
        assert env["DATABASE_URL"].endswith("@postgres:5432/ledger")
    # Migrations and projections write: they never see the replica.
    for name in ("migrate", "projector"):
        assert "DATABASE_REPLICA_URL" not in config["services"][name]["environment"]


def test_starts_in_dependency_order(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "api-2", "projector"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["redis"]["condition"] == "service_healthy"
    # A one-shot job that restarted would never count as completed.
    assert services["migrate"]["restart"] == "no"
    assert {"api", "api-2", "projector"} <= set(services["prometheus"]["depends_on"])


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
    for name in ("api", "api-2"):
        api = config["services"][name]
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
    assert published["api-2"] == [("127.0.0.1", 8000)]
    published_ports = [
        port["published"] for name in ("api", "api-2") for port in config["services"][name]["ports"]
    ]
    assert published_ports == ["8000", "8001"]
    assert published["prometheus"] == [("127.0.0.1", 9090)]
    assert published["grafana"] == [("127.0.0.1", 3000)]
    assert published["postgres"] == published["postgres-replica"] == published["redis"] == []


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


# What makes a container hardened: the host file must say exactly what compose.yaml says.
_HARDENING = ("read_only", "cap_drop", "security_opt", "tmpfs", "user")


def test_host_file_runs_the_ledger_processes_as_compose_yaml_does(
    config: dict[str, Any], host_config: dict[str, Any]
) -> None:
    services = host_config["services"]
    assert set(services) == set(LEDGER_SERVICES)
    for name in LEDGER_SERVICES:
        host, bridged = services[name], config["services"][name]
        for key in _HARDENING:
            assert host.get(key) == bridged.get(key), f"{name}: {key}"
        assert host["image"] == bridged["image"]
        # Built beforehand on the stand-in base: compose must not try a registry.
        assert host["pull_policy"] == "never"
        assert host["environment"]["LEDGER_ENV"] == "production"
        assert host["environment"]["DATABASE_URL"] == HOST_SETTINGS["DATABASE_URL"]
        assert host["environment"]["REDIS_URL"] == HOST_SETTINGS["REDIS_URL"]
    assert services["migrate"]["command"] == config["services"]["migrate"]["command"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "api-2", "projector"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_host_file_uses_the_host_network_and_loopback_only(host_config: dict[str, Any]) -> None:
    services = host_config["services"]
    # No network of its own: a daemon started with --bridge=none has none to give.
    assert "networks" not in host_config
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert "ports" not in service, name
        assert "networks" not in service, name
    listening = {}
    for name in ("api", "api-2", "projector"):
        command = services[name]["command"]
        host_flag = "--host" if name.startswith("api") else "--metrics-host"
        port_flag = "--port" if name.startswith("api") else "--metrics-port"
        assert command[command.index(host_flag) + 1] == "127.0.0.1"
        port = command[command.index(port_flag) + 1]
        listening[name] = port
        # Each health check asks its own process, on the port it listens on.
        assert f"127.0.0.1:{port}/" in " ".join(services[name]["healthcheck"]["test"])
    assert listening == {"api": "8000", "api-2": "8001", "projector": "9100"}


def test_host_file_passes_the_replica_on_when_set(host_config: dict[str, Any]) -> None:
    for name in ("api", "api-2"):
        # Null: unset in the container when unset here.
        assert host_config["services"][name]["environment"]["DATABASE_REPLICA_URL"] is None
    replica_url = "postgresql://ledger@127.0.0.1:5433/ledger"
    with_replica = resolved(COMPOSE_HOST, {**HOST_SETTINGS, "DATABASE_REPLICA_URL": replica_url})
    for name in ("api", "api-2"):
        assert with_replica["services"][name]["environment"]["DATABASE_REPLICA_URL"] == replica_url
    for name in ("migrate", "projector"):
        assert "DATABASE_REPLICA_URL" not in with_replica["services"][name]["environment"]
