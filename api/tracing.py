"""Server spans for the HTTP API: one per request, parent of the psycopg spans it causes.

Only when `ledger.tracing.configure_tracing` turned tracing on for this process; otherwise
the app is left untouched. OTEL_PYTHON_FASTAPI_EXCLUDED_URLS keeps noisy paths (for example
`health,metrics`) out of the traces."""

from __future__ import annotations

from fastapi import FastAPI

from ledger.tracing import configure_tracing

SERVICE_NAME = "ledger-api"


def instrument_app(app: FastAPI) -> None:
    """Adds OpenTelemetry's ASGI middleware to `app` when tracing is on."""
    provider = configure_tracing(SERVICE_NAME)
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
