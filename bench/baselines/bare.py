"""`python -m bench.baselines.bare PORT WORKERS`: the HTTP baseline. A bare FastAPI app answering
the benchmarked routes with JSON the real API returned (read once from BENCH_BARE_RESPONSES),
served by uvicorn with the options `ledger serve` uses."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response


def create() -> FastAPI:
    with open(os.environ["BENCH_BARE_RESPONSES"], "rb") as f:
        captured: dict[str, Any] = json.load(f)
    bodies = {k: json.dumps(v).encode() for k, v in captured.items()}
    app = FastAPI()

    @app.get("/api/v1/products")
    async def product_list() -> Response:
        return Response(bodies["list"], media_type="application/json")

    @app.get("/api/v1/products/{product_id}")
    async def product_detail(product_id: str) -> Response:
        return Response(bodies["detail"], media_type="application/json")

    @app.post("/api/v1/orders")
    async def place_order(request: Request) -> Response:
        await request.json()  # the API parses the body too
        return Response(bodies["order"], status_code=201, media_type="application/json")

    return app


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    uvicorn.run(
        "bench.baselines.bare:create",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_config=None,
        server_header=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
