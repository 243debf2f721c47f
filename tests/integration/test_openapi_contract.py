"""The OpenAPI document against the contract (/work/shared/spec.md, "HTTP API"): the error codes
it names, which of them each operation documents, the headers of read-your-writes,
consistency tokens and idempotency, and request examples that are real requests."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import api.schemas.auth
import api.schemas.orders
import api.schemas.products
from api.app import create_app
from tests.data import make_settings

# The contract's codes ("Codes: ..."), and the two the HTTP edge adds for requests no operation
# takes as sent: a body over the size cap (413) and a method a path lacks (405).
SPEC_CODES = {
    "VALIDATION_ERROR",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "INSUFFICIENT_STOCK",
    "PRICE_CHANGED",
    "INVALID_TRANSITION",
    "IDEMPOTENCY_KEY_REUSED",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR",
}
EDGE_CODES = {"PAYLOAD_TOO_LARGE", "METHOD_NOT_ALLOWED"}
SPEC_STATUS = {
    "VALIDATION_ERROR": 422,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "INSUFFICIENT_STOCK": 409,
    "PRICE_CHANGED": 409,
    "INVALID_TRANSITION": 409,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "RATE_LIMITED": 429,
    "SERVICE_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
    "PAYLOAD_TOO_LARGE": 413,
}

TRANSITIONS = ("confirm", "process", "ship", "deliver", "refund")
PUBLIC_GETS = {"/products", "/products/{product_id}", "/health", "/health/ready", "/metrics"}
ADMIN_OPERATIONS = {
    ("POST", "/products"),
    ("PATCH", "/products/{product_id}"),
    ("POST", "/products/{product_id}/stock"),
    ("DELETE", "/products/{product_id}"),
    *(("POST", f"/orders/{{order_id}}/{name}") for name in TRANSITIONS),
    ("GET", "/reports/sales"),
    ("GET", "/reports/products/top"),
    ("GET", "/reports/inventory"),
    ("GET", "/reports/orders/status"),
    ("GET", "/projections"),
}
# POSTs that do not run a command (so take no Idempotency-Key and send no position).
NOT_COMMANDS = {("POST", "/auth/login"), ("POST", "/auth/refresh")}
# What the contract names for particular operations.
NAMED: dict[tuple[str, str], set[str]] = {
    ("POST", "/orders"): {"PRICE_CHANGED", "INSUFFICIENT_STOCK", "NOT_FOUND"},
    ("POST", "/orders/{order_id}/cancel"): {"INVALID_TRANSITION", "NOT_FOUND"},
    **{("POST", f"/orders/{{order_id}}/{name}"): {"INVALID_TRANSITION"} for name in TRANSITIONS},
    ("GET", "/orders/{order_id}"): {"NOT_FOUND"},
    ("GET", "/orders/{order_id}/history"): {"NOT_FOUND"},
    ("GET", "/products/{product_id}"): {"NOT_FOUND"},
    ("POST", "/auth/login"): {"RATE_LIMITED", "UNAUTHORIZED"},
    ("POST", "/auth/register"): {"RATE_LIMITED", "CONFLICT"},
    ("POST", "/products/{product_id}/stock"): {"INSUFFICIENT_STOCK", "NOT_FOUND"},
    ("GET", "/health/ready"): {"SERVICE_UNAVAILABLE"},
}
NO_INPUT = {("GET", "/health"), ("GET", "/metrics"), ("GET", "/health/ready")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(make_settings()).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path.removeprefix("/api/v1"), operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def _documented_codes(operation: dict[str, Any]) -> dict[int, set[str]]:
    """Per error status, the codes the operation documents (its examples' error.code)."""
    codes: dict[int, set[str]] = {}
    for status, response in operation["responses"].items():
        if int(status) < 400:
            continue
        examples = response.get("content", {}).get("application/json", {}).get("examples", {})
        codes[int(status)] = {example["value"]["error"]["code"] for example in examples.values()}
    return codes


def _header_names(operation: dict[str, Any]) -> set[str]:
    return {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_error_code_is_an_enum_of_the_contracts_codes(document: dict[str, Any]) -> None:
    body = document["components"]["schemas"]["ErrorBody"]
    enum = set(_resolve(document, body["properties"]["code"])["enum"])
    assert enum == SPEC_CODES | EDGE_CODES


def test_every_operation_documents_its_error_codes_per_status(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        where = f"{method} {path}"
        per_status = _documented_codes(operation)
        # Liveness and metrics touch nothing and take no input: nothing to document.
        assert per_status or (method, path) in {("GET", "/health"), ("GET", "/metrics")}, where
        every: set[str] = set().union(*per_status.values())
        assert every <= SPEC_CODES | {"PAYLOAD_TOO_LARGE"}, where
        for status, codes in per_status.items():
            assert codes, f"{where} {status} names no code"
            assert {SPEC_STATUS[code] for code in codes} == {status}, where
        required = set(NAMED.get((method, path), set()))
        if (method, path) not in NO_INPUT:
            required |= {"VALIDATION_ERROR", "SERVICE_UNAVAILABLE"}
        if not (method == "GET" and path in PUBLIC_GETS) and path not in {
            "/auth/register",
            "/auth/login",
            "/auth/refresh",
        }:
            required.add("UNAUTHORIZED")
        if (method, path) in ADMIN_OPERATIONS:
            required.add("FORBIDDEN")
        if method == "POST" and (method, path) not in NOT_COMMANDS:
            required.add("IDEMPOTENCY_KEY_REUSED")
        assert required <= every, f"{where} lacks {required - every}"


def test_the_422_details_are_documented_as_a_list_of_issues(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if "422" not in operation["responses"]:
            continue
        schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
        error = _resolve(document, _resolve(document, schema)["properties"]["error"])
        details = error["properties"]["details"]
        assert details["type"] == "array", f"{method} {path}"
        issue = _resolve(document, details["items"])
        assert set(issue["properties"]) == {"loc", "msg", "type"}


def test_headers_are_documented_where_the_contract_uses_them(document: dict[str, Any]) -> None:
    commands = 0
    for method, path, operation in _operations(document):
        where = f"{method} {path}"
        headers = _header_names(operation)
        responses = operation["responses"]
        success = next(s for s in responses if s.startswith("2"))
        if method == "GET" and path.startswith(("/products", "/orders", "/reports", "/auth/me")):
            assert "x-ledger-consistency" in headers, where
            assert "X-Ledger-Stale" in responses["200"].get("headers", {}), where
        if method in {"POST", "PATCH", "DELETE"} and (method, path) not in NOT_COMMANDS:
            commands += 1
            assert "prefer" in headers, where
            for status in (success, "202"):
                assert "X-Ledger-Position" in responses[status]["headers"], f"{where} {status}"
            assert "AcceptedOut" in str(responses["202"]["content"]), where
        if method == "POST" and (method, path) not in NOT_COMMANDS:
            assert "idempotency-key" in headers, where
            assert "Idempotent-Replayed" in responses[success]["headers"], where
        for status in ("429", "503"):
            if status in responses and path != "/health/ready":
                assert "Retry-After" in responses[status]["headers"], f"{where} {status}"
    assert commands == 14


_BODY_MODELS: dict[str, type[BaseModel]] = {
    name: model
    for module in (api.schemas.auth, api.schemas.orders, api.schemas.people, api.schemas.products)
    for name, model in vars(module).items()
    if isinstance(model, type) and issubclass(model, BaseModel)
}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_request_bodies_have_real_examples(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if "requestBody" not in operation:
            continue
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        schema = _resolve(document, schema.get("anyOf", [schema])[0])
        examples = schema.get("examples")
        assert examples, f"{method} {path}"
        model = _BODY_MODELS[schema["title"]]
        for example in examples:
            model.model_validate(example)  # a real, valid request
            assert "string" not in _strings(example), f"{method} {path}"


def test_the_order_example_looks_like_an_order(document: dict[str, Any]) -> None:
    [example] = document["components"]["schemas"]["PlaceOrderIn"]["examples"]
    assert example["shipping_address"]["country"] == "US"
    assert example["items"][0]["price"] == "29.99"
    [product] = document["components"]["schemas"]["ProductCreateIn"]["examples"]
    assert product["price"] == "29.99"
