"""`python -m bench.children.listen_child URL PROJECTION`: prints `<position> <monotonic
seconds>` for each progress notification of one projection, until stdin closes.

It runs in a process of its own so that the arrival times are not delayed by the writer
threads of the benchmark holding the GIL; CLOCK_MONOTONIC is system-wide, so they compare
with the writers' times."""

from __future__ import annotations

import select
import sys
import time

import psycopg

from projections.store import PROGRESS_CHANNEL


def main(url: str, projection: str) -> None:
    prefix = f"{projection}:"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"LISTEN {PROGRESS_CHANNEL}")
        print("ready", flush=True)
        while True:
            for note in conn.notifies(timeout=0.1):
                now = time.monotonic()
                if note.payload.startswith(prefix):
                    print(f"{note.payload[len(prefix) :]} {now:.6f}", flush=True)
            if select.select([sys.stdin], [], [], 0)[0] and not sys.stdin.read(1):
                return


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
