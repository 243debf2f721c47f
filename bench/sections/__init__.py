"""The benchmark sections (`BENCH_SECTIONS`): write, lag, store, http; each has `run`."""
