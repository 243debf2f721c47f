"/health, /health/ready, /metrics and /projections: what operators and orchestrators read."

from __future__ import annotations

import os

import psycopg
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from api.errors import ErrorCode as E
from api.responses import respond
from api.routes import API_PREFIX
from api.schemas.common import Envelope, ErrorEnvelope, error_responses
from api.security import AdminUser
from api.state import ApiState, State
from ledger.logs import get_logger
from ledger.metrics import (
    PROJECTION_DEAD_LETTERS,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
    PROJECTION_POSITION,
)
from projections.status import read_status_async

router = APIRouter(prefix=API_PREFIX, tags=["operations"])
# Operators and orchestrators also find health and metrics at the root.
root_router = APIRouter(include_in_schema=False)
log = get_logger("ledger.api")


class HealthOut(BaseModel):
    status: str


class ReadinessOut(BaseModel):
    status: str
    checks: dict[str, str]


class ProjectionStatusOut(BaseModel):
    name: str
    position: int
    version: int = Field(description="The projection version that built the tables.")
    head: int
    lag_events: int
    lag_seconds: float
    state: str
    dead_letters: int
    updated_at: str | None
    rebuild_position: int | None
    rebuild_target: int | None
    lease: str | None = Field(
        description="The worker applying it (host:pid of the lease holder); null: none."
    )


@root_router.get("/health")
@router.get("/health", response_model=Envelope[HealthOut])
async def health() -> Response:
    """Liveness: the process answers; no dependency is touched."""
    return respond(Envelope(message="alive", data=HealthOut(status="ok")))


@root_router.get("/health/ready")
@router.get(
    "/health/ready",
    response_model=Envelope[ReadinessOut],
    responses={
        503: {
            **error_responses(E.SERVICE_UNAVAILABLE)[503],
            "description": "A check failed: SERVICE_UNAVAILABLE",
        }
    },
)
async def ready(state: State) -> Response:
    """Readiness: the database and Redis answer, and every projection keeps up."""
    checks = await _checks(state)
    failing = sorted(name for name, result in checks.items() if result != "ok")
    if failing:
        body = {
            "success": False,
            "error": {
                "code": "SERVICE_UNAVAILABLE",
                "message": f"not ready: {', '.join(failing)}",
                "details": {"checks": checks},
            },
        }
        return Response(
            content=ErrorEnvelope.model_validate(body).model_dump_json(),
            status_code=503,
            media_type="application/json",
        )
    return respond(Envelope(message="ready", data=ReadinessOut(status="ok", checks=checks)))


async def _checks(state: ApiState) -> dict[str, str]:
    checks: dict[str, str] = {}
    threshold = state.settings.ledger_lag_threshold_seconds
    try:
        async with state.pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
            checks["database"] = "ok"
            for status in await read_status_async(conn):
                lag = float(status["lag_seconds"])
                checks[f"projection:{status['name']}"] = (
                    "ok" if lag <= threshold else f"lagging {lag:.1f}s (threshold {threshold}s)"
                )
    except Exception as exc:
        checks.setdefault("database", f"unavailable: {type(exc).__name__}")
    if state.redis is not None:
        try:
            await state.redis.ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
    return checks


@root_router.get("/metrics")
@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(state: State) -> Response:
    """Prometheus metrics (summed over every worker when several run)."""
    await _refresh_projection_gauges(state)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return Response(payload, media_type=CONTENT_TYPE_LATEST)


async def _refresh_projection_gauges(state: ApiState) -> None:
    """The projection gauges as of this scrape (one query): the workers that move them run in
    the projector processes, yet the API's /metrics is where operators look for lag."""
    try:
        async with state.pool.connection(timeout=2) as conn:
            rows = await read_status_async(conn)
    except psycopg.Error as exc:  # the other metrics still matter while the database is away
        log.warning("projection gauges not refreshed", error=type(exc).__name__)
        return
    for row in rows:
        name = row["name"]
        PROJECTION_POSITION.labels(name).set(row["position"])
        PROJECTION_LAG_EVENTS.labels(name).set(row["lag_events"])
        PROJECTION_LAG_SECONDS.labels(name).set(row["lag_seconds"])
        PROJECTION_DEAD_LETTERS.labels(name).set(row["dead_letters"])


@router.get(
    "/projections",
    response_model=Envelope[list[ProjectionStatusOut]],
    responses=error_responses(E.UNAUTHORIZED, E.FORBIDDEN),
)
async def projections(_: AdminUser, state: State) -> Response:
    """Every projection: position, head of the store, lag, state, dead letters and the worker
    holding its lease."""
    async with state.pool.connection() as conn:
        rows = await read_status_async(conn)
    data = [ProjectionStatusOut.model_validate(row) for row in rows]
    return respond(Envelope(message="Projections", data=data))
