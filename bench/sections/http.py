"""HTTP rows: place order, product list and product detail through `ledger serve`, driven by
wrk at 64 connections; the baseline is a bare FastAPI app (bench.baselines.bare) returning the
same JSON from memory, served by the same uvicorn with the same options and worker count.

`ApiServer` also serves the growth rows and the load test: the API plus a projector (the API
waits for projections on writes, so it needs one)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import httpx

from bench import database, procs
from bench.config import Config
from bench.results import Results, Row, Target

API_WORKERS = int(os.environ.get("BENCH_API_WORKERS", "2"))
TARGET_READ_RATIO = 0.6
TARGET_RSS_MB = 150.0
PASSWORD = "Bench-Passw0rd!x"
ADDRESS = {
    "full_name": "Bench User",
    "address_line1": "1 Load Street",
    "city": "Testville",
    "state": "TS",
    "postal_code": "12345",
    "country": "US",
}
ORDER_LUA = """
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local address = '%(address)s'
request = function()
  local a = math.random(1, 50)
  local b = a %% 50 + 1
  local body = string.format('{"items":[{"product_id":"prod_%%d","quantity":1},' ..
    '{"product_id":"prod_%%d","quantity":1}],"shipping_address":%%s,"payment_method":"card"}',
    a, b, address)
  return wrk.format(nil, nil, nil, body)
end
"""
# X-Ledger-Consistency (even 0) makes a GET skip the read cache and run the whole route:
# the cost of a read right after the catalog has changed.
UNCACHED_LUA = 'wrk.headers["X-Ledger-Consistency"] = "0"\n'


def api_available() -> bool:
    return find_spec("api") is not None and find_spec("api.app") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_url() -> str | None:
    """Redis for the API as production runs it (BENCH_REDIS_URL, default a spare database
    of the local server), or None when it does not answer."""
    import redis

    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except (redis.RedisError, OSError):
        return None
    return url


def server_env(url: str) -> dict[str, str]:
    cache = redis_url()
    return {
        **({"REDIS_URL": cache} if cache else {}),
        **database.bench_env(url),
        "LOG_LEVEL": "WARNING",
        # Every load-test user signs up from 127.0.0.1: the per-address limit would refuse
        # the test itself, not protect anything.
        "RATE_LIMIT_AUTH_PER_ADDRESS": "off",
        "RATE_LIMIT_LOGIN_PER_EMAIL": "off",
    }


class ApiServer:
    """`ledger serve` (API_WORKERS workers) and `ledger projector run` on one database."""

    def __init__(
        self, url: str, workers: int = API_WORKERS, extra_env: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.workers = workers
        self.port = free_port()
        self.env = {**server_env(url), **(extra_env or {})}
        self.api: subprocess.Popen[str] | None = None
        self.projector: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.projector = procs.ledger_cli("projector", "run", "--metrics-port", "0", env=self.env)
        self.api = procs.ledger_cli(
            "serve", "--port", str(self.port), "--workers", str(self.workers), env=self.env
        )
        procs.wait_until(self._healthy, 60, "the API to answer")

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/api/v1/products", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_pids(self) -> list[int]:
        assert self.api is not None
        return procs.children(self.api.pid) if self.workers > 1 else [self.api.pid]

    def stop(self) -> None:
        for process in (self.api, self.projector):
            if process is not None:
                procs.stop(process)


def find_wrk() -> str | None:
    """wrk from PATH; installs it with apt-get when possible (the Debian package)."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_INSTALL"):
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("   wrk missing: installing it with apt-get", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=False,
            capture_output=True,
        )
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"],
                check=False,
                capture_output=True,
            )
    return shutil.which("wrk")


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx responses and socket errors, timeouts included
    timeouts: int  # requests unanswered in time (wrk's 2 s unless told)
    requests: int  # completed in the run


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(
    binary: str,
    url: str,
    seconds: float,
    connections: int,
    script: str | None,
    timeout: float | None = None,
    during: Callable[[], None] | None = None,
) -> WrkResult:
    """One wrk run; `timeout` replaces wrk's 2 s (a request unanswered by then is an error,
    left out of the latencies); `during` is called while wrk runs (it must return before wrk
    ends to see the load)."""
    args = [binary, "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if timeout is not None:
        args.append(f"--timeout={timeout:g}s")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script or "")
    if script:
        args += ["-s", lua.name]
    try:
        with subprocess.Popen([*args, url], stdout=subprocess.PIPE, text=True) as process:
            if during is not None:
                during()
            out = process.communicate()[0]
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, args, out)
    finally:
        Path(lua.name).unlink(missing_ok=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    # Anchored: "85.50%" in the thread stats above the distribution must not match.
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    timeouts = int(sock.group(4)) if sock else 0
    return WrkResult(rps, p50, p99, errors, timeouts, done)


def sign_in(base_url: str) -> str:
    """A new customer's access token (registered and logged in over HTTP)."""
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.post(
            "/api/v1/auth/register", json={"name": "Bench", "email": email, "password": PASSWORD}
        ).raise_for_status()
        login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        login.raise_for_status()
        token: str = login.json()["data"]["access_token"]
        return token


def _capture(base_url: str, token: str) -> dict[str, object]:
    """The API's real responses, for the bare app to return from memory."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        order = client.post(
            "/api/v1/orders",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "items": [
                    {"product_id": "prod_2", "quantity": 1},
                    {"product_id": "prod_3", "quantity": 1},
                ],
                "shipping_address": ADDRESS,
                "payment_method": "card",
            },
        )
        order.raise_for_status()
        return {
            "list": client.get("/api/v1/products").json(),
            "detail": client.get("/api/v1/products/prod_1").json(),
            "order": order.json(),
        }


def run(config: Config, server_url: str, results: Results) -> None:
    if not api_available():
        results.note("HTTP rows skipped: the API package (api/) is missing")
        return
    binary = find_wrk()
    if binary is None:
        results.note(
            "HTTP rows skipped: wrk is missing and could not be installed (apt-get install wrk)"
        )
        return
    cache = redis_url()
    results.note(
        f"HTTP: API with {API_WORKERS} uvicorn workers, "
        + (f"Redis response cache at {cache}" if cache else "no Redis (none answered)")
    )
    url = database.fresh(server_url, "http")
    database.seeded_ledger(url).close()
    server = ApiServer(url)
    server.start()
    responses_file = Path(tempfile.mkstemp(suffix=".json")[1])
    bare: subprocess.Popen[str] | None = None
    try:
        token = sign_in(server.base_url)
        responses_file.write_text(json.dumps(_capture(server.base_url, token)))
        bare_port = free_port()
        bare = procs.python(
            "-m",
            "bench.baselines.bare",
            str(bare_port),
            str(server.workers),
            env={"BENCH_BARE_RESPONSES": str(responses_file)},
        )
        bare_url = f"http://127.0.0.1:{bare_port}"
        procs.wait_until(lambda: _answers(bare_url), 30, "the bare app to answer")
        idle = max(procs.peak_rss_mb(p) for p in server.worker_pids())
        lua = ORDER_LUA % {"token": token, "address": json.dumps(ADDRESS)}
        cases = (
            ("GET product list", "/api/v1/products", None, True),
            ("GET product detail", "/api/v1/products/prod_1", None, True),
            ("GET product list, cache missed", "/api/v1/products", UNCACHED_LUA, False),
            ("GET product detail, cache missed", "/api/v1/products/prod_1", UNCACHED_LUA, False),
            ("POST place order", "/api/v1/orders", lua, False),
        )
        for name, path, script, is_read in cases:
            real = wrk(
                binary, server.base_url + path, config.http_seconds, config.http_connections, script
            )
            base = wrk(
                binary, bare_url + path, config.http_seconds, config.http_connections, script
            )
            label = f"{name}, {config.http_connections} conns"
            extra = {"api": real.__dict__, "bare": base.__dict__}
            results.add(
                Row(
                    "http",
                    f"{label}: requests/s",
                    real.rps,
                    "req/s",
                    "bare FastAPI, same JSON",
                    base.rps,
                    Target("ratio", "higher", TARGET_READ_RATIO) if is_read else None,
                    extra=extra,
                )
            )
            results.add(
                Row("http", f"{label}: p50", real.p50_ms, "ms", "bare FastAPI p50", base.p50_ms)
            )
            results.add(
                Row("http", f"{label}: p99", real.p99_ms, "ms", "bare FastAPI p99", base.p99_ms)
            )
            if real.errors:
                results.note(f"{name}: {real.errors} non-2xx or socket errors from the API")
        loaded = max(procs.peak_rss_mb(p) for p in server.worker_pids())
        results.add(
            Row(
                "memory",
                "API worker peak RSS under load",
                loaded,
                "MB",
                "same worker idle",
                idle,
                Target("value", "lower", TARGET_RSS_MB),
            )
        )
    finally:
        if bare is not None:
            procs.stop(bare)
        server.stop()
        responses_file.unlink(missing_ok=True)


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/api/v1/products", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
