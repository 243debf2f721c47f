"""Tracing: off unless OTEL_* variables ask for it; harmless without the extra; when on, a
request makes a server span whose children are the psycopg statements it ran."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ledger import tracing
from ledger.application import Ledger
from tests.observability.conftest import LogLines, MakeClient
from tests.processes import cli_env, stop, wait_until
from tests.projector_process import caught_up, create_product


@pytest.mark.parametrize(
    ("environment", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "ledger"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console,none"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
         False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)  # fmt: skip
def test_tracing_is_off_unless_the_otel_variables_ask(
    environment: dict[str, str], on: bool
) -> None:
    assert tracing.tracing_requested(environment) is on


def test_without_the_extra_tracing_is_one_warning_and_no_crash(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient, log_lines: LogLines
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    # A None entry in sys.modules makes the import fail, as when the extra is not installed.
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    client = make_client()
    assert client.get("/api/v1/products").status_code == 200
    [warning] = [line for line in log_lines.all() if "extra is not installed" in line["event"]]
    assert warning["level"] == "warning"
    assert tracing.configure_tracing("again") is None


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Spans in memory: an SDK provider set up first, as `opentelemetry-instrument` would,
    which configure_tracing then adopts; the driver instrumentation is removed afterwards."""
    exporter = InMemorySpanExporter()
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        # The global provider can be set once per process; later tests reuse it.
        current = TracerProvider()
        trace.set_tracer_provider(current)
    processor = SimpleSpanProcessor(exporter)
    current.add_span_processor(processor)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    try:
        yield exporter
    finally:
        tracing.stop_tracing()
        exporter.shutdown()


def test_a_request_is_a_server_span_with_its_queries_as_children(
    spans: InMemorySpanExporter, make_client: MakeClient
) -> None:
    client = make_client()
    spans.clear()
    assert client.get("/api/v1/products", params={"category": "tools"}).status_code == 200
    finished = spans.get_finished_spans()
    [server] = [s for s in finished if s.kind is SpanKind.SERVER]
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/v1/products"
    server_id = server.context.span_id
    in_request = [s for s in finished if s.context.trace_id == server.context.trace_id]
    queries = [
        s for s in in_request if s.attributes and s.attributes.get("db.system") == "postgresql"
    ]
    assert queries, [s.name for s in finished]
    for query in queries:
        assert query.kind is SpanKind.CLIENT
        # Direct child of the server span: the ASGI layer's own send/receive spans are siblings.
        assert query.parent is not None
        assert query.parent.span_id == server_id
        statement = str(query.attributes.get("db.statement", ""))  # type: ignore[union-attr]
        assert "tools" not in statement  # the statement text, never its parameters


def test_the_projector_traces_its_statements_when_asked(
    database_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    create_product(ledger, "prod_traced")
    env = {**cli_env(database_url, tmp_path), "OTEL_TRACES_EXPORTER": "console"}
    env.pop("OTEL_SDK_DISABLED", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger_cli.main", "projector", "run", "products",
         "--metrics-port", "0", "--poll-seconds", "0.2"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(caught_up(database_url, ["products"]), 30, "the projector to start")
    finally:
        stop(process)
    assert process.stdout is not None
    # The console exporter prints one JSON object per span; flushed when the process exits.
    output = process.stdout.read().decode()
    assert '"db.system": "postgresql"' in output
    assert '"service.name": "ledger-projector"' in output
