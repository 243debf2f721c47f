"""Rows that need a big store: rebuild speed against the library's stock runner, rebuild
memory at two store sizes, how command and read latency grow with the store, and, last, the
rebuild of every projection over the same store with a share of its events in older shapes that
upcasters bring to today's (bench.old_shapes).

One database grows in steps: the small store (growth baselines), the mid store (rebuild
memory), the large store (rebuild speed and memory, stock runner, growth figures). The hot
product (prod_1) takes its share of the fill's reservations, so at the large size it has the
long history the growth rows ask about."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench import database, fill, old_shapes, procs, workload
from bench.baselines import stock
from bench.config import Config
from bench.load import percentile
from bench.results import Results, Row, Target
from bench.sections.http import ApiServer, api_available
from ledger.application import Ledger
from ledger.domain import Product
from projections.registry import PROJECTIONS

TARGET_REBUILD_EPS = 50_000.0
# Issue #13: rebuilding all projections with upcasting on stays at or above this.
TARGET_UPCAST_REBUILD_EPS = 100_000.0
TARGET_GROWTH_RATIO = 1.2
TARGET_FLAT_RSS_RATIO = 1.2
COLD_OFFSET = 50  # events after the latest snapshot in a cold load
ALL = len(PROJECTIONS)  # the rows' labels count them


@dataclass
class Latencies:
    place_order_ms: float
    place_hot_ms: float
    cold_hot_load_ms: float
    product_detail_ms: float | None
    hot_versions: int


def _sample(ledger: Ledger, samples: int, api: ApiServer | None) -> Latencies:
    rng = random.Random(11)

    def timed(call: Any) -> float:
        began = time.perf_counter()
        call()
        return (time.perf_counter() - began) * 1000

    spread = [
        timed(lambda: ledger.place_order(workload.place_order(rng, False, "usr_growth")))
        for _ in range(samples)
    ]
    hot = [
        timed(lambda: ledger.place_order(workload.place_order(rng, True, "usr_growth")))
        for _ in range(samples)
    ]
    version: int = ledger.repository.get(workload.HOT_PRODUCT).version
    # With an explicit version the repository skips its cache and loads from the store
    # (latest snapshot plus the events after it): the cost of a cold start on this product.
    # Loaded at the same distance past a snapshot in both stores, so the figure compares
    # history lengths, not where each store happens to stand within a snapshot interval.
    interval = Ledger.snapshotting_intervals[Product]
    at = max(1, (version - COLD_OFFSET) // interval * interval + COLD_OFFSET)
    cold = [
        timed(lambda: ledger.repository.get(workload.HOT_PRODUCT, version=at))
        for _ in range(max(10, samples // 10))
    ]
    detail = None
    if api is not None:
        with httpx.Client(base_url=api.base_url) as client:
            path = f"/api/v1/products/{workload.HOT_PRODUCT}"
            client.get(path).raise_for_status()
            detail = percentile([timed(lambda: client.get(path)) for _ in range(samples)], 50)
    return Latencies(
        percentile(spread, 50), percentile(hot, 50), percentile(cold, 50), detail, version
    )


def _rebuild(url: str, *flags: str) -> dict[str, Any]:
    return procs.run_json("-m", "bench.children.rebuild_child", *flags, url, *PROJECTIONS)


def _upcast_rebuild(url: str) -> tuple[dict[str, Any], float]:
    """Rewrites the store's old-shape share (bench.old_shapes) and rebuilds every projection
    with its upcasters registered; returns the figures and the share of events upcast."""
    rewritten, total = old_shapes.store_old_shapes(url)
    figures = _rebuild(url, "--old-shapes")
    parked = {name: r["parked"] for name, r in figures["rebuilds"].items() if r["parked"]}
    assert not parked, f"the upcast rebuild parked events: {parked}"
    return figures, rewritten / total


def _all(figures: dict[str, Any]) -> float:
    """Every projection's events over their summed seconds (see the row's comment)."""
    rebuilds = figures["rebuilds"]
    events: float = sum(r["events"] for r in rebuilds.values())
    seconds: float = sum(r["seconds"] for r in rebuilds.values())
    return events / seconds


def run(config: Config, server_url: str, results: Results) -> None:
    url = database.fresh(server_url, "store")
    ledger = database.seeded_ledger(url)
    api = ApiServer(url) if api_available() else None
    if api is None:
        results.note("product-detail growth rows skipped: the API (`ledger serve`) is missing")
    try:
        if api is not None:
            api.start()
        _grow(ledger, url, config.small_events, 0)
        _rebuild(url)  # the read models the API serves
        small = _sample(ledger, config.growth_samples, api)

        _grow(
            ledger,
            url,
            config.mid_events,
            config.hot_reservations * config.mid_events // config.large_events,
        )
        mid = _rebuild(url)

        _grow(ledger, url, config.large_events, config.hot_reservations)
        large = _rebuild(url)
        position, seconds = stock.run_for(url, config.stock_runner_seconds)
        stock_eps = position / seconds
        big = _sample(ledger, config.growth_samples, api)
    finally:
        if api is not None:
            api.stop()
        ledger.close()
    upcast, upcast_share = _upcast_rebuild(url)

    events = database.event_count(url)
    products = large["rebuilds"]["products"]
    results.add(
        Row(
            "projections",
            f"rebuild products, {events:,} events",
            products["events_per_second"],
            "events/s",
            f"stock ProjectionRunner (first {position:,} events)",
            stock_eps,
            Target("value", "higher", TARGET_REBUILD_EPS),
            extra=large,
        )
    )
    # Each rebuild replays the whole store (its `events` is the store's size, however few of
    # those events the projection handles), so together they replay it once each: their
    # events over their summed seconds is the rate at which rebuilding everything, one after
    # another, goes through the store: each projection weighed by the time it takes, not the
    # mean of their rates, which the quick ones (users, sales) would inflate.
    rebuilds = large["rebuilds"]
    all_rate = _all(large)
    results.note(
        "rebuild of each projection over the large store: "
        + ", ".join(
            f"{name} {r['events_per_second']:,.0f} events/s ({r['seconds']:.1f} s)"
            for name, r in rebuilds.items()
        )
    )
    results.add(
        Row(
            "projections",
            f"rebuild all {ALL} projections (events per second each)",
            all_rate,
            "events/s",
            "stock ProjectionRunner (products)",
            stock_eps,
            Target("value", "higher", TARGET_REBUILD_EPS),
        )
    )
    results.note(
        f"rebuild of each projection, upcasting on ({upcast_share:.0%} of events upcast): "
        + ", ".join(
            f"{name} {r['events_per_second']:,.0f} events/s ({r['seconds']:.1f} s)"
            for name, r in upcast["rebuilds"].items()
        )
    )
    results.add(
        Row(
            "projections",
            f"rebuild all {ALL} projections, upcasting on ({upcast_share:.0%} of events upcast)",
            _all(upcast),
            "events/s",
            f"rebuild all {ALL} projections (no event upcast)",
            all_rate,
            Target("value", "higher", TARGET_UPCAST_REBUILD_EPS),
            extra={**upcast, "upcast_share": upcast_share},
        )
    )
    mid_events = mid["rebuilds"]["products"]["events"]
    results.add(
        Row(
            "memory",
            f"rebuild peak RSS, {mid_events:,} events",
            mid["peak_rss_mb"],
            "MB",
            "none (the next row compares with it)",
            None,
        )
    )
    results.add(
        Row(
            "memory",
            f"rebuild peak RSS, {events:,} events",
            large["peak_rss_mb"],
            "MB",
            f"rebuild peak RSS, {mid_events:,} events",
            mid["peak_rss_mb"],
            Target("ratio", "lower", TARGET_FLAT_RSS_RATIO),
        )
    )
    growth = Target("ratio", "lower", TARGET_GROWTH_RATIO)
    small_label = f"same at {config.small_events:,} events"
    results.add(
        Row(
            "growth",
            f"place order p50, {events:,} events",
            big.place_order_ms,
            "ms",
            small_label,
            small.place_order_ms,
            growth,
        )
    )
    results.add(
        Row(
            "growth",
            f"place order on prod_1 p50, {big.hot_versions:,} versions",
            big.place_hot_ms,
            "ms",
            f"prod_1 at {small.hot_versions:,} versions",
            small.place_hot_ms,
            growth,
        )
    )
    results.add(
        Row(
            "growth",
            f"cold load of prod_1 p50 (snapshot + {COLD_OFFSET}), {big.hot_versions:,} versions",
            big.cold_hot_load_ms,
            "ms",
            f"prod_1 at {small.hot_versions:,} versions",
            small.cold_hot_load_ms,
            growth,
        )
    )
    if big.product_detail_ms is not None:
        results.add(
            Row(
                "growth",
                f"GET product detail p50, {events:,} events",
                big.product_detail_ms,
                "ms",
                small_label,
                small.product_detail_ms,
                growth,
            )
        )


def _grow(ledger: Ledger, url: str, events: int, hot_reservations: int) -> None:
    have = database.event_count(url)
    if events > have:
        hot_have: int = ledger.repository.get(workload.HOT_PRODUCT).reserved
        added, seconds = fill.fill(
            ledger, events - have, hot_reservations=max(0, hot_reservations - hot_have)
        )
        print(f"   filled {added:,} events in {seconds:.0f} s", flush=True)
        database.vacuum_analyze(url)
