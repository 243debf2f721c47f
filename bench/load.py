"""Runs a callable from N threads for a fixed time and counts what completed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Throughput:
    done: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def run_threads(
    work: Callable[[int, int], None], threads: int, seconds: float, warmup: float = 1.0
) -> Throughput:
    """Calls `work(thread_index, call_index)` in a loop from each thread; only calls that
    start after `warmup` and finish before the deadline are counted."""
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + seconds
    lock = threading.Lock()
    done = errors = 0
    latencies: list[float] = []
    first_error: list[BaseException] = []

    def loop(index: int) -> None:
        nonlocal done, errors
        call = 0
        while True:
            began = time.perf_counter()
            if began >= deadline:
                return
            try:
                work(index, call)
                ok = True
            except Exception as exc:
                ok = False
                if not first_error:
                    first_error.append(exc)
            ended = time.perf_counter()
            call += 1
            if began >= measure_from and ended <= deadline:
                with lock:
                    if ok:
                        done += 1
                        latencies.append(ended - began)
                    else:
                        errors += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if first_error and not done:
        raise first_error[0]
    return Throughput(done, errors, seconds, latencies)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]
