"""Schema-driven fuzzing of the whole OpenAPI with schemathesis: every operation, as an admin and
as a customer, valid and invalid input alike; no 5xx, and every answer is documented (status,
content type, headers and body schema)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.data import auth
from tests.fuzz.conftest import FuzzWorld

EXAMPLES_PER_OPERATION = 16
MINIMUM_REQUESTS = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

pytestmark = pytest.mark.slow


def _fuzz(operation: Any, base: str, token: str, strategy: Any, tally: Tally) -> None:
    """Sends requests drawn from `strategy` to one operation with `token`; records every
    answer and every disagreement with the schema."""

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=strategy)
    def exercise(case: Any) -> None:
        response = case.call(base_url=base, headers=auth(token), timeout=30)
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as failure:
            # Collected rather than raised: one run shows every disagreement at once.
            summary = str(failure).strip().splitlines()[:12]
            tally.failures.append(f"{operation.label} -> {response.status_code}: {summary}")

    try:
        exercise()
    except hypothesis.errors.Unsatisfiable:
        # An operation that takes no input at all has no invalid input to send.
        tally.no_invalid_input.append(operation.label)


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    no_invalid_input: list[str] = field(default_factory=list)


def test_every_operation_survives_generated_input(world: FuzzWorld) -> None:
    base = world.stack.base_url
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert not isinstance(result, Err), result.err()
        operations.append(result.ok())
    assert len(operations) >= 25
    tally = Tally()
    real_ids = {"product_id": world.product, "order_id": world.order}
    for operation in operations:
        names = {parameter.name for parameter in operation.path_parameters}
        # Valid input aimed at resources that exist, as an admin and as a customer...
        existing = operation.as_strategy(
            GenerationMode.POSITIVE,
            path_parameters={k: v for k, v in real_ids.items() if k in names} or None,
        )
        for token in (world.admin, world.customer):
            _fuzz(operation, base, token, existing, tally)
        # ...and input that breaks the schema everywhere it can.
        _fuzz(operation, base, world.admin, operation.as_strategy(GenerationMode.NEGATIVE), tally)
    sent = sum(tally.statuses.values())
    print(f"schemathesis: {sent} requests, statuses {dict(sorted(tally.statuses.items()))}")
    assert sent >= MINIMUM_REQUESTS
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert not [status for status in tally.statuses if status >= 500], tally.statuses
