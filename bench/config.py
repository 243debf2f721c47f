"""Benchmark sizes and switches, read from the environment so `make bench QUICK=1` and CI can
shrink them. Every size has a full value (the issue's figures) and a quick one (< 3 minutes)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("write", "lag", "store", "http", "crud")
ROOT = Path(__file__).resolve().parent


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "y", "yes", "true", "on"}


def _int(name: str, full: int, quick: int, is_quick: bool) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else (quick if is_quick else full)


def _float(name: str, full: float, quick: float, is_quick: bool) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else (quick if is_quick else full)


@dataclass(frozen=True)
class Config:
    quick: bool
    # A PostgreSQL server URL the suite may create (and drop) `ledger_bench_*` databases on;
    # None starts an embedded server under .ledger/bench-postgres.
    server_url: str | None
    sections: tuple[str, ...]
    write_seconds: float
    writers: tuple[int, ...]
    small_events: int
    mid_events: int
    large_events: int
    hot_reservations: int
    stock_runner_seconds: float
    lag_rate: int
    lag_seconds: float
    http_seconds: float
    http_connections: int
    mix_seconds: float
    growth_samples: int
    out_dir: Path = field(default=ROOT)

    @classmethod
    def from_env(cls) -> Config:
        quick = _flag("BENCH_QUICK") or _flag("QUICK")
        sections = tuple(
            s.strip() for s in os.environ.get("BENCH_SECTIONS", ",".join(SECTIONS)).split(",")
        )
        unknown = [s for s in sections if s not in SECTIONS]
        if unknown:
            raise SystemExit(f"unknown BENCH_SECTIONS {unknown}; known: {', '.join(SECTIONS)}")
        return cls(
            quick=quick,
            server_url=os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL"),
            sections=sections,
            write_seconds=_float("BENCH_WRITE_SECONDS", 10.0, 3.0, quick),
            writers=(1, 8),
            small_events=_int("BENCH_SMALL_EVENTS", 10_000, 10_000, quick),
            mid_events=_int("BENCH_MID_EVENTS", 100_000, 30_000, quick),
            large_events=_int("BENCH_EVENTS", 1_000_000, 60_000, quick),
            hot_reservations=_int("BENCH_HOT_RESERVATIONS", 100_000, 10_000, quick),
            stock_runner_seconds=_float("BENCH_STOCK_SECONDS", 30.0, 5.0, quick),
            lag_rate=_int("BENCH_LAG_RATE", 500, 500, quick),
            lag_seconds=_float("BENCH_LAG_SECONDS", 20.0, 5.0, quick),
            http_seconds=_float("BENCH_HTTP_SECONDS", 10.0, 3.0, quick),
            http_connections=_int("BENCH_CONNECTIONS", 64, 64, quick),
            mix_seconds=_float("BENCH_MIX_SECONDS", 20.0, 5.0, quick),
            growth_samples=_int("BENCH_GROWTH_SAMPLES", 300, 100, quick),
            out_dir=Path(os.environ.get("BENCH_OUT", str(ROOT))),
        )
