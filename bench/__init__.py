"""The ledger's benchmark suite (`make bench`, `python -m bench`): write path, HTTP,
projections, memory and growth, each row against a baseline measured in the same run.

Results go to bench/results.json and bench/results.png; docs/benchmarks.md explains the rows."""
