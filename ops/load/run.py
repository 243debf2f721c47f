"""Headless load test: a fresh ledger (database, API workers, projector) and locust running
ops/load/locustfile.py against it, all on this machine. Writes locust's CSV statistics and a
summary (ops/load/results/); with --find-max, steps the number of users up and reports the
largest that keeps p95 under the limit with no failures.

    uv run python ops/load/run.py --users 100 --duration 60
    uv run python ops/load/run.py --find-max --duration 60
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the bench helpers live in the repository

from bench import database  # noqa: E402
from bench.sections.http import API_WORKERS, ApiServer  # noqa: E402
from ledger.logs import configure_logging  # noqa: E402

RESULTS = HERE / "results"
P95_LIMIT_MS = 200.0
# Users started per second. Each sign-up and login hashes a password (argon2id, about 43 ms
# of CPU each here): 5 new users a second keep almost half a core hashing during the ramp,
# and a faster ramp measures the hashing, not the shop.
SPAWN_RATE = 5.0


def run_once(
    server_url: str, users: int, duration: int, workers: int, spawn_rate: float = SPAWN_RATE
) -> dict[str, object]:
    """One fresh ledger, one locust run; returns the aggregated statistics."""
    url = database.fresh(server_url, "load")
    database.seeded_ledger(url).close()
    api = ApiServer(url, workers=workers)
    api.start()
    RESULTS.mkdir(exist_ok=True)
    prefix = RESULTS / f"users-{users}"
    ramp = users / spawn_rate
    try:
        subprocess.run(  # noqa: S603 - our interpreter running locust
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(HERE / "locustfile.py"),
                "--headless",
                "--users",
                str(users),
                "--spawn-rate",
                str(spawn_rate),
                "--run-time",
                f"{int(duration + ramp)}s",
                "--host",
                api.base_url,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            check=False,  # locust exits 1 when any request failed: that is a result, not an error
        )
    finally:
        api.stop()
    summary = _summary(prefix, users, duration, workers)
    (RESULTS / f"summary-{users}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _summary(prefix: Path, users: int, duration: int, workers: int) -> dict[str, object]:
    with open(f"{prefix}_stats.csv", newline="") as stats:
        rows = list(csv.DictReader(stats))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    p95 = float(total["95%"])
    failures = int(total["Failure Count"])
    return {
        "users": users,
        "duration_s": duration,
        "api_workers": workers,
        "requests": int(total["Request Count"]),
        "failures": failures,
        "rps": float(total["Requests/s"]),
        "p50_ms": float(total["50%"]),
        "p95_ms": p95,
        "p99_ms": float(total["99%"]),
        "by_endpoint": {
            r["Name"]: {"p95_ms": float(r["95%"]), "failures": int(r["Failure Count"])}
            for r in rows
            if r["Name"] != "Aggregated"
        },
        "sustained": p95 < P95_LIMIT_MS and failures == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=60, help="seconds after the ramp-up")
    parser.add_argument("--workers", type=int, default=API_WORKERS, help="API workers")
    parser.add_argument("--database-url", default=None, help="server for a fresh database")
    parser.add_argument("--spawn-rate", type=float, default=SPAWN_RATE, help="users/s started")
    parser.add_argument("--find-max", action="store_true", help="step users up to the limit")
    args = parser.parse_args()
    configure_logging(level="WARNING")  # not one line per seeded product
    server_url = database.server(args.database_url or _env_url())
    if not args.find_max:
        summary = run_once(server_url, args.users, args.duration, args.workers, args.spawn_rate)
        print(json.dumps(summary, indent=2))
        return
    best: dict[str, object] | None = None
    users = args.users
    while True:
        started = time.monotonic()
        summary = run_once(server_url, users, args.duration, args.workers, args.spawn_rate)
        print(
            f"{users} users: p95 {summary['p95_ms']} ms, {summary['failures']} failures, "
            f"{summary['rps']:.0f} req/s ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        if not summary["sustained"]:
            break
        best = summary
        users *= 2
    if best is not None:
        # One step back between the last good and the first failing size.
        middle = (int(str(best["users"])) + users) // 2
        retry = run_once(server_url, middle, args.duration, args.workers, args.spawn_rate)
        print(f"{middle} users: p95 {retry['p95_ms']} ms, {retry['failures']} failures", flush=True)
        if retry["sustained"]:
            best = retry
        else:
            summary = retry
    report = {
        "max_sustained_users": best["users"] if best else 0,
        "best": best,
        "first_failing": summary,
    }
    (RESULTS / "max-users.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def _env_url() -> str | None:
    import os

    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")


if __name__ == "__main__":
    main()
