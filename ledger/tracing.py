"""OpenTelemetry tracing for every process that talks to PostgreSQL (the API, the projectors).

Off unless the standard OTEL_* variables ask for it: OTEL_TRACES_EXPORTER (`otlp`, `console`,
or `none`), or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT / ..._TRACES_ENDPOINT);
OTEL_SDK_DISABLED=true wins over both. The SDK is the optional extra `ledger[tracing]`: when
tracing is asked for without it, one warning says so and the process runs untraced.

psycopg is instrumented at the driver (every connection opened afterwards, pools included, is
traced; statement text only, never parameters). Under `opentelemetry-instrument`, which has
already set up an SDK tracer provider, that provider is reused rather than replaced."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ledger.logs import get_logger

log = get_logger("ledger.tracing")
_SUPPORTED_EXPORTERS = ("otlp", "console")
_provider: Any = None  # the process's SDK TracerProvider once tracing is on


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    configured = environ.get("OTEL_TRACES_EXPORTER")
    if configured is None:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    names = [name.strip().lower() for name in configured.split(",") if name.strip()]
    return [name for name in names if name != "none"]


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the OTEL_* variables turn tracing on."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(_exporter_names(environ))


def configure_tracing(service_name: str, environ: Mapping[str, str] = os.environ) -> Any:
    """Turns tracing on for this process when asked; returns the tracer provider, or None.

    Call it before the first database connection opens: only later connections are traced."""
    global _provider  # one provider per process, like the OpenTelemetry global it mirrors
    if _provider is not None or not tracing_requested(environ):
        return _provider
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        log.warning(
            "tracing requested by OTEL_* variables but the 'tracing' extra is not installed; "
            "running without traces (install ledger[tracing])"
        )
        return None
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current  # set up already (opentelemetry-instrument, or a test harness)
    else:
        provider = _new_provider(service_name, environ)
        trace.set_tracer_provider(provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    _provider = provider
    log.info("tracing on", service=service_name, exporters=_exporter_names(environ))
    return provider


def _new_provider(service_name: str, environ: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create; ours is only
    # the default when the operator named none.
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in _exporter_names(environ):
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT itself.
            exporter = OTLPSpanExporter()
        elif name == "console":
            exporter = ConsoleSpanExporter()
        else:
            log.warning("unsupported trace exporter ignored", exporter=name,
                        supported=list(_SUPPORTED_EXPORTERS))  # fmt: skip
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def stop_tracing() -> None:
    """Flushes pending spans and removes the driver instrumentation (tests, clean shutdown)."""
    global _provider  # see configure_tracing
    if _provider is None:
        return
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    PsycopgInstrumentor().uninstrument()
    _provider.force_flush()
    _provider = None
