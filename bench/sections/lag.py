"""Live projection lag: commit of a command to its order row being visible, at a steady rate.

A projector subprocess (`ledger projector run`, all projections) follows the store. Writers
place orders on a fixed schedule; a listener receives the projector's
`ledger_projections '<name>:<position>'` notifications, which PostgreSQL delivers when the
rows commit. A command's lag is the arrival of the first `orders` notification at or past its
position minus the moment the command's transaction committed (`Ledger.last_committed_at`).
The projector's peak RSS under that load is the memory row for projectors."""

from __future__ import annotations

import bisect
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from bench import database, procs, workload
from bench.config import Config
from bench.load import percentile
from bench.results import Results, Row, Target
from projections import catch_up

# Enough threads that the schedule, not the number of commands in flight, sets the rate: at
# 500 a second, 8 threads capped it whenever a command took more than 16 ms.
WRITERS = 32
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 150.0
WARMUP_SECONDS = 2.0


class _Listener:
    """The arrivals (position, monotonic time) of one projection's progress notifications,
    received by bench.children.listen_child in its own process."""

    def __init__(self, url: str, projection: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.children.listen_child", url, projection],
            cwd=procs.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the listener did not start")
        self.positions: list[int] = []
        self.arrivals: list[float] = []

    def close(self) -> None:
        """Stops the listener and collects what it received."""
        out, _ = self.process.communicate("", timeout=30)
        for line in out.splitlines():
            position, arrival = line.split()
            self.positions.append(int(position))
            self.arrivals.append(float(arrival))

    def visible_at(self, position: int) -> float | None:
        index = bisect.bisect_left(self.positions, position)
        return self.arrivals[index] if index < len(self.positions) else None


def _paced(ledger: object, rate: int, seconds: float) -> _Paced:
    """Places `rate` orders a second for `seconds` on a fixed schedule (open loop: a slot's
    command starts at its time whether or not earlier ones have returned, as long as one of
    WRITERS threads is free); returns each command's (position, committed at) and the achieved
    rate."""
    from ledger.application import Ledger

    assert isinstance(ledger, Ledger)
    lock = threading.Lock()
    done: list[tuple[int, float]] = []
    late: list[float] = []  # how long after its slot each command started
    counter = iter(range(10**9))
    start = time.perf_counter() + 0.1
    end = start + seconds

    def loop(index: int) -> None:
        rng = random.Random(index)
        while True:
            with lock:
                slot = start + next(counter) / rate
            if slot >= end:
                return
            delay = slot - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            result = ledger.place_order(workload.place_order(rng, False, f"usr_lag{index}"))
            # The moment its transaction committed, not when the call returned: the leader of
            # a group commit takes snapshots after the commit, and the others wake up later.
            committed = ledger.last_committed_at()
            with lock:
                done.append((result.position, committed))
                late.append(max(0.0, began - slot))

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    achieved = len(done) / max(time.perf_counter() - start, 1e-9)
    return _Paced(done, achieved, percentile(late, 99) * 1000)


@dataclass(frozen=True)
class _Paced:
    done: list[tuple[int, float]]
    achieved: float
    late_p99_ms: float  # p99 of how late commands started: the generator keeping up


def run(config: Config, server_url: str, results: Results) -> None:
    url = database.fresh(server_url, "lag")
    ledger = database.seeded_ledger(url)
    catch_up(url)
    env = database.bench_env(url)
    projector = procs.ledger_cli("projector", "run", "--metrics-port", "0", env=env)
    listener = _Listener(url, "orders")
    try:
        time.sleep(2.0)  # the projector takes leadership and settles
        idle_rss = procs.peak_rss_mb(projector.pid)
        _paced(ledger, config.lag_rate, WARMUP_SECONDS)
        paced = _paced(ledger, config.lag_rate, config.lag_seconds)
        done, achieved = paced.done, paced.achieved
        time.sleep(1.0)  # the last notifications arrive
        listener.close()
        ended = time.monotonic()
        lags = []
        missing = 0
        for position, committed in done:
            visible = listener.visible_at(position)
            if visible is None:
                # Never seen: its lag is at least the time since it committed, never none.
                missing += 1
                visible = ended
            lags.append(max(0.0, visible - committed) * 1000)
        loaded_rss = procs.peak_rss_mb(projector.pid)
    finally:
        if listener.process.poll() is None:
            listener.process.kill()
        procs.stop(projector)
        ledger.close()
    shape = f"at {achieved:.0f} cmd/s (asked {config.lag_rate})"
    extra = {
        "achieved_rate": achieved,
        "commands": len(done),
        "not_seen": missing,
        "writers": WRITERS,
        "start_late_p99_ms": paced.late_p99_ms,
    }
    for p, target in ((50, None), (99, Target("value", "lower", TARGET_P99_MS))):
        results.add(
            Row(
                "projections",
                f"live lag p{p} commit->order row, {shape}",
                percentile(lags, p),
                "ms",
                "none (absolute target)",
                None,
                target,
                extra=extra,
            )
        )
    if missing:
        results.note(f"live lag: {missing} commands never seen in the orders projection")
    if achieved < 0.95 * config.lag_rate:
        results.note(
            f"live lag: writers reached {achieved:.0f} of {config.lag_rate} commands/s on this "
            "machine (the writers, the projector and PostgreSQL share its cores)"
        )
    results.add(
        Row(
            "memory",
            "projector peak RSS under live load",
            loaded_rss,
            "MB",
            "same projector idle",
            idle_rss,
            Target("value", "lower", TARGET_RSS_MB),
        )
    )
