"""The ledger against the seed's own design (bench.crud: CRUD tables, async SQLAlchemy,
asyncpg), both served by uvicorn with the same options and worker count, each on its own fresh
database, driven by the same wrk scripts at 64 connections: product list and detail, place
order, and the seed's load-test mix (bench.mix). For the mix, the CPU the servers spent per
request, from /proc (bench.cpu): the API processes, the projector, the PostgreSQL backends of
the database, and the Redis server the ledger's API uses (a private one, so that it can be
counted); the baseline has neither projector nor Redis.

One side runs at a time (started, measured, stopped): both at once held more connections than
a shared server's 100."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from bench import cpu, database, mix, procs, redis_server
from bench.config import Config
from bench.results import Results, Row, Target
from bench.sections.http import (
    ADDRESS,
    API_WORKERS,
    ORDER_LUA,
    UNCACHED_LUA,
    ApiServer,
    WrkResult,
    api_available,
    find_wrk,
    free_port,
    sign_in,
    wrk,
)

BASELINE = "CRUD baseline"
# Issue #16: writes over HTTP at least as fast as the baseline, p99 under 100 ms; catalog
# reads at least the baseline's; CPU per seed-mix request at most the baseline's.
ORDER_P99_MS = 100.0
# The CPU window leaves out this share of the mix's run at each end: the requests of the run
# before still in flight as it starts, and those in flight as it stops.
EDGE_SHARE = 0.1
# On two shared cores both sides answer some requests in over wrk's default 2 s, which would
# leave them out of the p99 and out of the requests the CPU is divided by.
WRK_TIMEOUT_SECONDS = 10.0
READS = {"GET product list": "/api/v1/products", "GET product detail": "/api/v1/products/prod_1"}
COMPONENTS = ("API", "projector", "PostgreSQL", "Redis")


@dataclass(frozen=True)
class Server:
    """One side of the comparison: where it answers and what its processes are."""

    base_url: str
    components: dict[str, cpu.Finder]
    # X-Ledger-Consistency: 0 skips the ledger's read cache; the baseline has none to skip.
    has_cache: bool


@dataclass(frozen=True)
class Measured:
    reads: dict[str, WrkResult]
    missed: dict[str, WrkResult]
    order: WrkResult
    mix: WrkResult
    cpu_ms: dict[str, float]  # core-milliseconds per mix request, by component
    order_cpu_ms: dict[str, float]  # core-milliseconds per order, by component
    spent: cpu.Spent  # the mix's CPU seconds, and the processes they were read from
    window: tuple[float, float]  # the CPU window's seconds and the requests served in it


def run(config: Config, server_url: str, results: Results) -> None:
    if not api_available():
        results.note("CRUD rows skipped: the API package (api/) is missing")
        return
    binary = find_wrk()
    if binary is None:
        results.note("CRUD rows skipped: wrk is missing and could not be installed")
        return
    results.note(
        f"ledger: `ledger serve` with {API_WORKERS} workers, a projector and a private Redis; "
        f"{BASELINE}: bench.crud with {API_WORKERS} workers; the same uvicorn options"
    )
    with _baseline(server_url) as server:
        base = _measure(binary, config, server)
    with _ledger(server_url) as server:
        real = _measure(binary, config, server)
    _rows(config, real, base, results)
    for side, measured in (("ledger", real), (BASELINE, base)):
        ended = {name: n for name, n in measured.spent.ended.items() if n}
        if ended:
            results.note(f"{side}: processes ended during the mix, their CPU uncounted: {ended}")


@contextmanager
def _ledger(server_url: str) -> Iterator[Server]:
    cache, cache_url = redis_server.start(free_port())
    url = database.fresh(server_url, "crud_ledger")
    database.seeded_ledger(url).close()
    api = ApiServer(url, extra_env={"REDIS_URL": cache_url})
    try:
        api.start()
        assert api.api is not None
        assert api.projector is not None
        yield Server(
            api.base_url,
            {
                "API": _tree(api.api.pid),
                "projector": _tree(api.projector.pid),
                "PostgreSQL": lambda: cpu.backends(url),
                "Redis": _tree(cache.pid),
            },
            has_cache=True,
        )
    finally:
        api.stop()
        procs.stop(cache)


@contextmanager
def _baseline(server_url: str) -> Iterator[Server]:
    url = database.fresh(server_url, "crud_baseline", migrate=False)
    port = free_port()
    process = procs.python(
        "-m",
        "bench.crud",
        str(port),
        str(API_WORKERS),
        env={"BENCH_CRUD_DATABASE_URL": url, "BENCH_CRUD_SECRET": "c" * 48},
    )
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the CRUD baseline exited with {process.returncode}")
        try:
            return httpx.get(f"{base_url}/api/v1/products", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        procs.wait_until(answers, 60, "the CRUD baseline to answer")
        yield Server(
            base_url,
            {"API": _tree(process.pid), "PostgreSQL": lambda: cpu.backends(url)},
            has_cache=False,
        )
    finally:
        procs.stop(process)


def _tree(pid: int) -> cpu.Finder:
    return lambda: cpu.tree(pid)


def _measure(binary: str, config: Config, server: Server) -> Measured:
    """Reads first (nothing writes meanwhile, so the ledger answers them from its read cache),
    then place order, then the mix with the CPU its processes spent."""
    seconds, conns = config.http_seconds, config.http_connections
    token = sign_in(server.base_url)

    def run_wrk(
        path: str,
        script: str | None,
        duration: float = seconds,
        during: Callable[[], None] | None = None,
    ) -> WrkResult:
        url = server.base_url + path
        return wrk(binary, url, duration, conns, script, WRK_TIMEOUT_SECONDS, during)

    reads = {name: run_wrk(path, None) for name, path in READS.items()}
    missed = {
        name: run_wrk(path, UNCACHED_LUA) if server.has_cache else reads[name]
        for name, path in READS.items()
    }
    order_script = ORDER_LUA % {"token": token, "address": json.dumps(ADDRESS)}
    ordering = _CpuWindow(server.components, seconds)
    order = run_wrk("/api/v1/orders", order_script, seconds, ordering.measure)
    window = _CpuWindow(server.components, config.mix_seconds)
    # The path is the script's to set, request by request.
    mixed = run_wrk("/api/v1/products", mix.lua(token), config.mix_seconds, window.measure)
    assert window.spent is not None
    return Measured(
        reads,
        missed,
        order,
        mixed,
        window.per_request(mixed),
        ordering.per_request(order),
        window.spent,
        (window.seconds, window.served(mixed)),
    )


class _CpuWindow:
    """Samples the components' CPU inside a run of `seconds`, leaving out its edges."""

    def __init__(self, components: dict[str, cpu.Finder], seconds: float) -> None:
        self.components = components
        self.edge = max(1.0, EDGE_SHARE * seconds)
        if seconds <= 2 * self.edge:  # too short for that (BENCH_HTTP_SECONDS=2): its middle half
            self.edge = seconds / 4
        self.length = seconds - 2 * self.edge
        self.seconds = 0.0
        self.spent: cpu.Spent | None = None

    def measure(self) -> None:
        time.sleep(self.edge)
        started = time.perf_counter()
        before = cpu.sample(self.components)
        time.sleep(self.length)
        self.spent = cpu.spent(before, cpu.sample(self.components))
        self.seconds = time.perf_counter() - started

    def served(self, run: WrkResult) -> float:
        """The requests served inside the window: a closed loop at a steady rate, so its share."""
        return run.rps * self.seconds

    def per_request(self, run: WrkResult) -> dict[str, float]:
        """Core-milliseconds per request of `run`, by component."""
        assert self.spent is not None
        served = max(1.0, self.served(run))
        return {name: 1000 * s / served for name, s in self.spent.seconds.items()}


def _rows(config: Config, real: Measured, base: Measured, results: Results) -> None:
    conns = config.http_connections
    at_least = Target("ratio", "higher", 1.0)
    for name in READS:
        _add(results, f"{name}, {conns} conns", real.reads[name], base.reads[name], at_least)
        _add(results, f"{name}, cache missed, {conns} conns", real.missed[name], base.reads[name])
    p99 = Target("value", "lower", ORDER_P99_MS)
    _add(results, f"POST place order, {conns} conns", real.order, base.order, at_least, p99)
    _add(results, f"seed mix (locustfile), {conns} conns", real.mix, base.mix)
    _cpu_rows(results, "place order CPU per order", real.order_cpu_ms, base.order_cpu_ms)
    mix_extra = {
        side: {
            "core_ms": m.cpu_ms,
            "window_seconds": m.window[0],
            "window_requests": m.window[1],
            **dataclasses.asdict(m.spent),
        }
        for side, m in (("ledger", real), ("baseline", base))
    }
    at_most = Target("ratio", "lower", 1.0)
    _cpu_rows(results, "seed mix CPU per request", real.cpu_ms, base.cpu_ms, at_most, mix_extra)


def _cpu_rows(
    results: Results,
    label: str,
    real: dict[str, float],
    base: dict[str, float],
    total_target: Target | None = None,
    total_extra: Mapping[str, object] | None = None,
) -> None:
    """One row per component, then their total."""
    for component in COMPONENTS:
        theirs = base.get(component)
        results.add(
            Row(
                "crud",
                f"{label}: {component}",
                real[component],
                "core-ms",
                f"{BASELINE} {component}" if theirs is not None else f"{BASELINE} has none",
                theirs,
            )
        )
    results.add(
        Row(
            "crud",
            f"{label}: all server processes",
            sum(real.values()),
            "core-ms",
            f"{BASELINE}, all server processes",
            sum(base.values()),
            total_target,
            extra=dict(total_extra or {}),
        )
    )


def _add(
    results: Results,
    label: str,
    real: WrkResult,
    base: WrkResult,
    rps_target: Target | None = None,
    p99_target: Target | None = None,
) -> None:
    extra = {"ledger": real.__dict__, "baseline": base.__dict__}
    results.add(
        Row(
            "crud",
            f"{label}: requests/s",
            real.rps,
            "req/s",
            BASELINE,
            base.rps,
            rps_target,
            extra=extra,
        )
    )
    results.add(Row("crud", f"{label}: p50", real.p50_ms, "ms", f"{BASELINE} p50", base.p50_ms))
    results.add(
        Row("crud", f"{label}: p99", real.p99_ms, "ms", f"{BASELINE} p99", base.p99_ms, p99_target)
    )
    for side, measured in (("ledger", real), (BASELINE, base)):
        if measured.errors:
            results.note(
                f"{label}: {measured.errors} non-2xx or socket errors from the {side} "
                f"({measured.timeouts} timeouts)"
            )
