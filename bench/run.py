"""Runs the benchmark sections in order, prints the table, writes results.json and the PNG.

Configuration comes from the environment (bench.config): QUICK=1 for a short run,
BENCH_SECTIONS to choose sections, BENCH_DATABASE_URL for the server to use."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback

from bench import database
from bench.config import Config
from bench.results import Results
from ledger.logs import configure_logging


def main() -> None:
    config = Config.from_env()
    # One log line per command would cost more than some of the things measured.
    configure_logging(level="WARNING")
    results = Results(
        config.out_dir,
        {k: str(v) for k, v in dataclasses.asdict(config).items() if k != "server_url"},
    )
    if os.environ.get("BENCH_MERGE"):
        results.keep_others(config.sections)
    server_url = database.server(config.server_url)
    print(f"bench: {'quick' if config.quick else 'full'} run, sections {config.sections}")
    started = time.perf_counter()
    failed = False
    for section in config.sections:
        t0 = time.perf_counter()
        print(f"\n== {section}", flush=True)
        results.section = section
        try:
            _section(section)(config, server_url, results)
        except Exception:
            failed = True
            traceback.print_exc()
            results.note(f"section {section} failed: {traceback.format_exc(limit=1).strip()}")
        print(f"== {section} took {time.perf_counter() - t0:.0f} s", flush=True)
        results.write()
    print(f"\n{results.table()}")
    for note in results.notes:
        print(f"note: {note}")
    print(
        f"\nbench: {time.perf_counter() - started:.0f} s; wrote {config.out_dir}/results.json "
        f"and results.png"
    )
    if failed:
        sys.exit(1)


def _section(name: str):  # type: ignore[no-untyped-def]
    if name == "write":
        from bench.sections import write

        return write.run
    if name == "lag":
        from bench.sections import lag

        return lag.run
    if name == "store":
        from bench.sections import store

        return store.run
    if name == "http":
        from bench.sections import http

        return http.run
    if name == "crud":
        from bench.sections import crud

        return crud.run
    raise SystemExit(f"unknown section {name}")
