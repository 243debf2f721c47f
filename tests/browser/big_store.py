"""A store of a million events for timing the back office's pages at that size.

`python -m tests.browser.big_store URL [EVENTS]` (URL: a server the database is made on)
creates `ledger_admin_big`, migrates it, seeds the demo catalog with ample stock, appends
EVENTS events (1,000,000 by default) through bench.fill (the ledger's own write path, orders
saved in batches), and rebuilds every projection so the read tables are at the head. The
database is kept for `tests.browser.page_times`, and reused when it already holds as many."""

from __future__ import annotations

import sys
import time

from bench import database as bench_db
from bench import fill
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS

NAME = "admin_big"
EVENTS = 1_000_000


def make(server_url: str, events: int = EVENTS) -> str:
    """The URL of a database holding at least `events` events, every projection at the head."""
    url = bench_db.fresh(server_url, NAME)
    ledger = bench_db.seeded_ledger(url)
    try:
        added, seconds = fill.fill(ledger, events - bench_db.event_count(url))
        print(f"filled {added:,} events in {seconds:.0f} s", flush=True)
    finally:
        ledger.close()
    for cls in PROJECTIONS.values():
        started = time.perf_counter()
        result = rebuild(url, cls())
        print(f"rebuilt {result.projection} in {time.perf_counter() - started:.1f} s", flush=True)
    bench_db.vacuum_analyze(url)
    return url


if __name__ == "__main__":
    target = int(sys.argv[2]) if len(sys.argv) > 2 else EVENTS
    print(make(sys.argv[1], target))
