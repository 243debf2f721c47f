"""The image runs the ledger for real: ops/Dockerfile built on this engine, then `ledger db
upgrade`, two `ledger serve` and `ledger projector run` as containers hardened exactly as
compose.yaml hardens them (read-only root, the image's non-root user, no capabilities, no new
privileges, tmpfs where compose mounts one), on the host network, against a fresh database
on the test PostgreSQL and the test Redis. Then compose.host.yaml brings the same processes
up itself, on a primary and a streaming replica of its own, and both API containers read the
catalog from the replica. Both skip, saying why, where no Docker engine can be had; .ci/run
provides one.

The image build time is printed (`pytest -s`): the first build on a machine downloads the
locked dependencies, later ones reuse the engine's layer cache."""

from __future__ import annotations

import functools
import shlex
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from ledger import database
from tests.api_steps import login, post_product, register, register_and_login
from tests.data import PASSWORD, SECRET_KEY, auth, order_body, unique_email
from tests.faultproxy import FaultProxy
from tests.ops.compose import COMPOSE, COMPOSE_HOST, SECRETS, compose, resolved
from tests.ops.engine import Containers, Engine, find_engine
from tests.processes import free_port, wait_until
from tests.replica import ReplicatedPostgres
from tests.servers import RoundRobin, ready

IMAGE = "ledger:test"
START_SECONDS = 90
# Four API workers and a projector share the test server with the rest of the suite (the
# embedded one allows 100 connections): each keeps its pools small.
POOL_SIZE = "3"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return find_engine()


@pytest.fixture(scope="module")
def image(engine: Engine) -> str:
    base = engine.base_image()
    seconds = engine.build(IMAGE, base)
    print(f"\nimage {IMAGE}: ops/Dockerfile built on {base} in {seconds:.1f} s")
    return IMAGE


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """compose.yaml's services as Compose resolves them: the hardening to copy."""
    services: dict[str, Any] = resolved(COMPOSE, SECRETS)["services"]
    return services


def _tcp_url(url: str, port: int) -> str:
    params = conninfo_to_dict(url)
    user = quote(str(params.get("user") or "postgres"))
    password = f":{quote(str(params['password']))}" if params.get("password") else ""
    return f"postgresql://{user}{password}@127.0.0.1:{port}/{params['dbname']}"


@pytest.fixture
def fresh_database(server_url: str) -> Iterator[tuple[str, str]]:
    """An empty database on the test server, which `ledger db upgrade` in a container must
    migrate: (its URL for this process, its URL for a container). A server that listens on
    a unix socket only (the embedded one) is reached over TCP through a relay on loopback."""
    name = f"ledger_containers_{uuid.uuid4().hex[:12]}"
    database.create_database(server_url, name)
    url = database.with_database(server_url, name)
    try:
        if str(conninfo_to_dict(url).get("host", "")).startswith("/"):
            with FaultProxy(url) as relay:
                yield url, _tcp_url(url, relay.port)
        else:
            yield url, url
    finally:
        database.drop_database(server_url, name)


def _user(engine: Engine, image: str) -> str:
    user = str(engine.inspect(image)["Config"]["User"])
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"the image runs as {user!r}: not a numeric uid"
    assert int(uid) > 0, f"the image runs as {user!r}: root"
    assert gid.isdigit(), f"the image runs as {user!r}: not a numeric gid"
    return user


def _hardening(service: dict[str, Any], user: str) -> list[str]:
    """`docker run` flags for what compose.yaml sets on `service`, on the host network."""
    assert service["read_only"] is True
    flags = ["--network", "host", "--user", user, "--read-only"]
    flags += [f"--cap-drop={capability}" for capability in service["cap_drop"]]
    flags += [f"--security-opt={option}" for option in service["security_opt"]]
    flags += [f"--tmpfs={mount}" for mount in service.get("tmpfs", [])]
    return flags


def _env(**variables: str) -> list[str]:
    return [flag for name, value in variables.items() for flag in ("--env", f"{name}={value}")]


def _health_check(engine: Engine, image: str, port: int) -> list[str]:
    """The image's own HEALTHCHECK, asking the port this container's API listens on."""
    test = engine.inspect(image)["Config"]["Healthcheck"]["Test"]
    assert test[0] == "CMD"
    command = shlex.join(test[1:])
    assert ":8000/health" in command
    return [f"--health-cmd={command.replace(':8000/', f':{port}/')}", "--health-interval=1s"]


def _running(engine: Engine, name: str) -> bool:
    state = engine.inspect(name)["State"]
    assert state["Running"], f"{name} exited with {state['ExitCode']}"
    return True


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_image_runs_every_ledger_process_hardened_as_compose_runs_it(
    engine: Engine,
    image: str,
    services: dict[str, Any],
    fresh_database: tuple[str, str],
    redis_url: str,
) -> None:
    url, container_url = fresh_database
    user = _user(engine, image)
    ledger_env = _env(
        DATABASE_URL=container_url, REDIS_URL=redis_url, LEDGER_ENV="production",
        LEDGER_SECRET_KEY=SECRET_KEY, LOG_FORMAT="json", LEDGER_DB_POOL_SIZE=POOL_SIZE,
    )  # fmt: skip
    api_env = [*ledger_env, *_env(PROMETHEUS_MULTIPROC_DIR="/run/ledger-metrics")]
    api_ports, metrics_port = [free_port(), free_port()], free_port()
    with Containers(engine).removed_at_end() as containers:
        migrate = [*_hardening(services["migrate"], user), *ledger_env]
        upgraded = containers.run("migrate", migrate, image, ["ledger", "db", "upgrade"])
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone()

        projector = containers.start(
            "projector", [*_hardening(services["projector"], user), *ledger_env], image,
            ["ledger", "projector", "run", "--metrics-host", "127.0.0.1",
             "--metrics-port", str(metrics_port)],
        )  # fmt: skip
        apis = []
        for number, (service, port) in enumerate(zip(("api", "api-2"), api_ports, strict=True)):
            flags = [*_hardening(services[service], user), *api_env]
            serve = ["ledger", "serve", "--host", "127.0.0.1", "--port", str(port)]
            name = containers.start(
                f"api-{number}", [*flags, *_health_check(engine, image, port)], image,
                [*serve, "--workers", "2"],
            )  # fmt: skip
            apis.append(name)
        for name, port in zip(apis, api_ports, strict=True):
            _wait_for_api(engine, name, f"http://127.0.0.1:{port}")
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_until(lambda: _answers(metrics), START_SECONDS, "the projector's metrics")

        # Hardened for real: what the engine applied, and what a process inside meets.
        for name in (projector, *apis):
            host = engine.inspect(name)["HostConfig"]
            assert host["NetworkMode"] == "host"
            assert host["ReadonlyRootfs"] is True
            assert host["CapDrop"] == ["ALL"]
            assert "no-new-privileges:true" in host["SecurityOpt"]
            uid = engine.docker("exec", name, "id", "-u").stdout.strip()
            assert uid == user.partition(":")[0]
            write = engine.docker(
                "exec", name, "python", "-c", "open('/app/written', 'w')", check=False
            )
            assert write.returncode != 0
            assert "Read-only file system" in write.stderr

        # An admin made as the operator makes one: the CLI, in a container of the image.
        admin_email = unique_email("admin")
        created = containers.run(
            "create-admin", migrate, image,
            ["ledger", "users", "create-admin", "--email", admin_email, "--name", "Admin",
             "--password-stdin"],
            stdin=f"{PASSWORD}\n",
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr

        # Over HTTP, each request to the other API container: a write on one, its read on
        # the other, the projector container keeping every read model up.
        transport = RoundRobin(api_ports)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{api_ports[0]}/api/v1", transport=transport, timeout=30
        ) as client:
            wait_until(lambda: _projections_at_head(url), START_SECONDS, "the admin projected")
            admin = str(login(client, admin_email)["access_token"])
            product = post_product(client, admin, stock=5)
            _, token = register_and_login(client, "containers")
            placed = client.post("/orders", json=order_body(product["id"], 2), headers=auth(token))
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["data"]["id"]
            for _ in api_ports:
                order = client.get(f"/orders/{order_id}", headers=auth(token))
                assert order.status_code == 200, order.text
                assert order.json()["data"]["status"] == "pending"
                stock = client.get(f"/products/{product['id']}").json()["data"]
                assert (stock["on_hand"], stock["reserved"], stock["available"]) == (5, 2, 3)
        _assert_projected(url)


def _wait_for_api(engine: Engine, name: str, base: str) -> None:
    """Until the API container answers /health, is ready, and its HEALTHCHECK has passed."""
    wait_until(
        lambda: _running(engine, name) and _answers(f"{base}/health"), START_SECONDS,
        f"{name} to answer /health",
    )  # fmt: skip
    wait_until(lambda: ready(base), START_SECONDS, f"{name}: /health/ready 200")
    wait_until(
        lambda: engine.inspect(name)["State"]["Health"]["Status"] == "healthy", START_SECONDS,
        f"{name}: the image's HEALTHCHECK to pass",
    )  # fmt: skip


def _projections_at_head(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events")
        (position,) = head.fetchone() or (0,)
        behind = conn.execute(
            "SELECT count(*) FROM projection_positions WHERE position < %s", (position,)
        ).fetchone()
        tracked = conn.execute("SELECT count(*) FROM projection_positions").fetchone()
    return bool(position) and behind == (0,) and tracked is not None and tracked[0] > 0


def _assert_projected(url: str) -> None:
    """Every projection the projector container runs has applied the whole store."""
    wait_until(lambda: _projections_at_head(url), START_SECONDS, "every projection at the head")
    with psycopg.connect(url) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM projection_positions")}
    assert {"orders", "products", "users", "inventory", "sales"} <= names


@pytest.fixture
def replicated() -> Iterator[ReplicatedPostgres]:
    """A primary and a streaming replica of its own (tests/replica.py), on 127.0.0.1."""
    servers = ReplicatedPostgres()
    try:
        yield servers
    finally:
        servers.close()


def _read_from(base: str) -> str:
    response = httpx.get(f"{base}/api/v1/products", timeout=10)
    assert response.status_code == 200, response.text
    return response.headers["X-Ledger-Read-From"]


def test_compose_host_file_brings_the_ledger_up_on_the_host_network(
    engine: Engine, image: str, replicated: ReplicatedPostgres, redis_url: str
) -> None:
    ports = {"API_PORT": free_port(), "API_2_PORT": free_port()}
    ports["PROJECTOR_METRICS_PORT"] = free_port()
    project = f"ledger-test-{uuid.uuid4().hex[:8]}"
    env = {
        "LEDGER_SECRET_KEY": SECRET_KEY, "DATABASE_URL": replicated.primary_url,
        "DATABASE_REPLICA_URL": replicated.replica_url, "REDIS_URL": redis_url,
        "LEDGER_IMAGE": image, "LEDGER_DB_POOL_SIZE": POOL_SIZE,
        **{name: str(port) for name, port in ports.items()},
    }  # fmt: skip
    try:
        up = compose(COMPOSE_HOST, "--project-name", project, "up", "--detach", env=env,
                     timeout=300)  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        apis = [f"http://127.0.0.1:{ports[name]}" for name in ("API_PORT", "API_2_PORT")]
        for base in apis:
            wait_until(functools.partial(ready, base), START_SECONDS, f"{base}/health/ready")
        metrics = f"http://127.0.0.1:{ports['PROJECTOR_METRICS_PORT']}/metrics"
        wait_until(lambda: _answers(metrics), START_SECONDS, "the projector's metrics")
        # Registered through one API container, signed in through the other.
        email = unique_email("host")
        with httpx.Client(base_url=f"{apis[0]}/api/v1", timeout=30) as first:
            register(first, email)
        with httpx.Client(base_url=f"{apis[1]}/api/v1", timeout=30) as second:
            assert login(second, email)["access_token"]
        _assert_projected(replicated.primary_url)
        # Both containers were given the replica, and read the catalog from it.
        for base in apis:
            wait_until(
                lambda base=base: _read_from(base) == "replica", START_SECONDS,
                f"{base} to read from the replica",
            )  # fmt: skip
    except BaseException as error:
        logs = compose(COMPOSE_HOST, "--project-name", project, "logs", "--tail", "30", env=env)
        error.add_note(logs.stdout + logs.stderr)
        raise
    finally:
        down = compose(COMPOSE_HOST, "--project-name", project, "down", "--volumes", env=env,
                       timeout=120)  # fmt: skip
        assert down.returncode == 0, down.stderr
