"""`python -m bench.crud PORT WORKERS`: creates the baseline's tables and catalog in
BENCH_CRUD_DATABASE_URL, then serves it under uvicorn with the options `ledger serve` uses
(ledger_cli/serve.py) and WORKERS worker processes."""

from __future__ import annotations

import asyncio
import os
import sys

import uvicorn

from bench.crud import database
from bench.database import BENCH_STOCK


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    # Before the workers start, so that they never race to create the same tables.
    asyncio.run(database.create(os.environ["BENCH_CRUD_DATABASE_URL"], BENCH_STOCK))
    uvicorn.run(
        "bench.crud.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_config=None,
        server_header=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        timeout_worker_healthcheck=30,
    )


if __name__ == "__main__":
    main()
