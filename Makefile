# Two commands matter: `make dev` runs the ledger, `make test` runs the tests.
# Both install uv (the package manager) when it is missing, then the locked dependencies:
# `make dev` the runtime ones only (about 125 MB), `make test` the development toolchain too
# (about 565 MB: pytest, mypy, locust, schemathesis, matplotlib ...).

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=

.PHONY: dev test lint typecheck check bench load uv sync sync-runtime

# pip --user first; where the system Python refuses it (PEP 668: Debian 12, Ubuntu 23.04 and
# later) uv alone goes to ~/.local anyway; with no pip at all, uv's own installer.
uv:
	@command -v $(UV) >/dev/null 2>&1 \
		|| python3 -m pip install --quiet --user uv 2>/dev/null \
		|| python3 -m pip install --quiet --user --break-system-packages uv \
		|| curl -LsSf https://astral.sh/uv/install.sh | sh

sync: uv
	@$(UV) sync --frozen --quiet

# --inexact: a toolchain that `make test` installed stays; --no-sync: `uv run` would add it.
sync-runtime: uv
	@$(UV) sync --frozen --no-dev --inexact --quiet

dev: sync-runtime
	$(UV) run --no-sync ledger dev

test: sync
	$(UV) run pytest --cov --cov-report=term $(PYTEST_ARGS)

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports

typecheck: sync
	$(UV) run mypy

check: lint typecheck test

# Benchmarks (docs/benchmarks.md): a fresh database per section; QUICK=1 for a short run.
# BENCH_DATABASE_URL picks the PostgreSQL server (default: an embedded one).
QUICK ?=
bench: sync
	QUICK=$(QUICK) $(UV) run python -m bench

# Load test: the seed's locustfile, unchanged, headless against `ledger dev` on a fresh data
# folder, both on this machine (ops/load/run.py). The issue's target run is the default.
# USERS=max steps the number of users up and reports the largest one sustained.
USERS ?= 1000
SPAWN_RATE ?= 10
DURATION ?= 300
load: sync
	$(UV) run python ops/load/run.py $(if $(filter max,$(USERS)),--find-max --users 125,--users $(USERS)) --spawn-rate $(SPAWN_RATE) --duration $(DURATION)
