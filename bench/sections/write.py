"""Write-path rows: orders placed per second through the application layer, with 1 and 8
writers, spread over the demo catalog and on one hot product; baselines the plain
`eventsourcing` pattern and pgbench's ceiling, all in the same run."""

from __future__ import annotations

import random
import uuid

from bench import database, workload
from bench.baselines import pgbench
from bench.baselines.plain import PlainShop, plain_env
from bench.config import Config
from bench.load import percentile, run_threads
from bench.results import Results, Row, Target
from ledger.application import Ledger

# The target: at 8 writers, at least 3x the plain pattern.
TARGET_RATIO_AT_8 = 3.0


def _ledger_rate(ledger: Ledger, writers: int, hot: bool, seconds: float) -> tuple[float, float]:
    rngs = [random.Random(i) for i in range(writers)]

    def work(index: int, _call: int) -> None:
        ledger.place_order(workload.place_order(rngs[index], hot, f"usr_bench{index}"))

    result = run_threads(work, writers, seconds)
    return result.per_second, percentile(result.latencies, 99) * 1000


def _plain_rate(shop: PlainShop, writers: int, hot: bool, seconds: float) -> float:
    rngs = [random.Random(100 + i) for i in range(writers)]

    def work(index: int, _call: int) -> None:
        cmd = workload.place_order(rngs[index], hot, f"usr_bench{index}")
        shop.place_order(cmd, f"ord_{uuid.uuid4().hex}")

    return run_threads(work, writers, seconds).per_second


def run(config: Config, server_url: str, results: Results) -> None:
    ledger = database.seeded_ledger(database.fresh(server_url, "write"))
    plain_url = database.fresh(server_url, "plain", migrate=False)
    shop = PlainShop(plain_env(plain_url))
    shop.seed()
    ceiling_url = database.fresh(server_url, "pgbench", migrate=False)
    try:
        ceilings: dict[int, float] = {}
        for writers in config.writers:
            try:
                ceilings[writers] = pgbench.ceiling(ceiling_url, writers, config.write_seconds)
            except (RuntimeError, OSError) as exc:
                results.note(f"pgbench ceiling not measured: {exc}")
        for hot in (False, True):
            shape = "hot product" if hot else "spread"
            for writers in config.writers:
                rate, p99 = _ledger_rate(ledger, writers, hot, config.write_seconds)
                plain = _plain_rate(shop, writers, hot, config.write_seconds)
                name = f"place order, {writers} writer{'s' if writers > 1 else ''}, {shape}"
                target = (
                    Target("ratio", "higher", TARGET_RATIO_AT_8)
                    if writers == max(config.writers)
                    else None
                )
                results.add(
                    Row(
                        "write",
                        name,
                        rate,
                        "orders/s",
                        "plain eventsourcing pattern",
                        plain,
                        target,
                        extra={"p99_ms": p99},
                    )
                )
                if writers in ceilings:
                    results.add(
                        Row(
                            "write",
                            f"{name} vs ceiling",
                            rate,
                            "orders/s",
                            f"pgbench lock+notify+insert, {writers} clients",
                            ceilings[writers],
                        )
                    )
    finally:
        ledger.close()
        shop.close()
