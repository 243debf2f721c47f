"""Inputs a careful API refuses (issue #17): unassigned country codes, unknown payment methods,
currencies the money module does not know, unknown query parameters; and what it accepts that
it used to refuse or miss (postgres:// URLs, a category in another case)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
from fastapi.testclient import TestClient

import projections
from api.app import create_app
from api.schemas.orders import PaymentMethod, PlaceOrderIn
from ledger.domain.countries import COUNTRY_CODES
from ledger.domain.money import CURRENCIES, currency_exponent
from ledger.settings import Settings, SettingsError, load_settings
from tests.api_steps import create_admin
from tests.data import ADDRESS, PASSWORD, auth, make_settings, product_body, unique_email

API = "/api/v1"
ASYNC = {"Prefer": "respond-async"}


def order(**overrides: Any) -> dict[str, Any]:
    address = {**ADDRESS, **overrides.pop("address", {})}
    return {
        "items": [{"product_id": "prod_1", "quantity": 1}],
        "shipping_address": address,
        "payment_method": "card",
        **overrides,
    }


# Country: ISO 3166-1 alpha-2 as assigned, any case in, upper case kept.


def test_the_assigned_country_codes_are_the_249_of_iso_3166_1() -> None:
    assert len(COUNTRY_CODES) == 249
    assert {"US", "GB", "DE", "AX", "SS", "BQ", "CW", "SX"} <= COUNTRY_CODES
    assert not {"UK", "EU", "XK", "ZZ", "AA", "QQ"} & COUNTRY_CODES


@pytest.mark.parametrize("country", ["ZZ", "zz", "UK", "XK", "EU", "AA"])
def test_an_unassigned_country_code_is_refused(country: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        PlaceOrderIn.model_validate(order(address={"country": country}))
    (error,) = caught.value.errors()
    assert error["loc"] == ("shipping_address", "country")
    assert "ISO 3166-1 alpha-2" in error["msg"]


@pytest.mark.parametrize(("given", "kept"), [("de", "DE"), ("Gb", "GB"), ("US", "US")])
def test_an_assigned_country_code_is_accepted_in_any_case(given: str, kept: str) -> None:
    body = PlaceOrderIn.model_validate(order(address={"country": given}))
    assert body.shipping_address.country == kept


# Payment method: one of a documented set, named in the 422.


@pytest.mark.parametrize("method", ["card", "paypal", "bank_transfer", "stripe"])
def test_the_documented_payment_methods_are_accepted(method: str) -> None:
    assert PlaceOrderIn.model_validate(order(payment_method=method)).payment_method == method


@pytest.mark.parametrize("method", ["bitcoin", "Card", "", "cash on delivery"])
def test_another_payment_method_is_refused_naming_the_accepted_ones(method: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        PlaceOrderIn.model_validate(order(payment_method=method))
    (error,) = caught.value.errors()
    assert error["loc"] == ("payment_method",)
    for accepted in PaymentMethod:
        assert f"'{accepted.value}'" in error["msg"]


# Settings: currencies the money module knows; postgres:// as the alias it is.


@pytest.fixture
def no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("DATABASE_URL", "LEDGER_CURRENCY", "LEDGER_ENV", "LEDGER_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    return monkeypatch


@pytest.mark.parametrize("currency", ["XYZ", "ABC", "XAU", "XTS", "usd"])
def test_a_currency_the_money_module_does_not_know_stops_start_up(
    no_environment: pytest.MonkeyPatch, currency: str
) -> None:
    no_environment.setenv("LEDGER_CURRENCY", currency)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith("LEDGER_CURRENCY: ")


@pytest.mark.parametrize(("currency", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_an_iso_4217_currency_with_its_minor_unit_is_accepted(
    no_environment: pytest.MonkeyPatch, currency: str, digits: int
) -> None:
    no_environment.setenv("LEDGER_CURRENCY", currency)
    assert load_settings().ledger_currency == currency
    assert currency in CURRENCIES
    assert currency_exponent(currency) == digits


def test_zero_decimal_currencies_have_no_minor_unit() -> None:
    # These were formatted with two decimals before the table listed every currency.
    for currency in ("BIF", "DJF", "GNF", "KMF", "RWF", "VUV", "XPF"):
        assert currency_exponent(currency) == 0, currency


def test_a_postgres_url_is_accepted_as_postgresql(no_environment: pytest.MonkeyPatch) -> None:
    no_environment.setenv("DATABASE_URL", "postgres://ledger@127.0.0.1:5432/ledger")
    assert load_settings().database_url == "postgresql://ledger@127.0.0.1:5432/ledger"
    url = Settings(database_url="postgresql://ledger@db/ledger").database_url
    assert url == "postgresql://ledger@db/ledger"


def test_another_database_url_scheme_is_refused_saying_which_are_valid(
    no_environment: pytest.MonkeyPatch,
) -> None:
    no_environment.setenv("DATABASE_URL", "mysql://ledger@db/ledger")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("DATABASE_URL: ")
    assert "postgresql://" in message
    assert "postgres://" in message


# Over HTTP: unknown query parameters, enum values, the category filter, order placement.


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = make_settings(database_url=database_url, ledger_consistency_timeout=0.2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _sign_in(client: TestClient, email: str) -> str:
    response = client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["access_token"])


@pytest.fixture
def admin(client: TestClient, database_url: str) -> str:
    email, _ = create_admin(database_url)
    projections.catch_up(database_url)
    return _sign_in(client, email)


@pytest.fixture
def customer(client: TestClient, database_url: str) -> str:
    email = unique_email("customer")
    body = {"name": "Customer", "email": email, "password": PASSWORD}
    assert client.post(f"{API}/auth/register", json=body, headers=ASYNC).status_code == 201
    projections.catch_up(database_url)
    return _sign_in(client, email)


def _refused(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    details: list[dict[str, Any]] = error["details"]
    return details


def _messages(details: list[dict[str, Any]]) -> str:
    return " ".join(str(detail["msg"]) for detail in details)


def test_an_unknown_query_parameter_is_a_422_naming_it_and_the_accepted_ones(
    client: TestClient,
) -> None:
    details = _refused(client.get(f"{API}/products", params={"foo": "1"}))
    assert [detail["loc"] for detail in details] == [["query", "foo"]]
    message = _messages(details)
    assert "'foo'" in message
    for accepted in ("category", "q", "min_price", "max_price", "in_stock", "sort", "page"):
        assert accepted in message
    # A misspelt filter is refused rather than widening the result to everything.
    assert _refused(client.get(f"{API}/products/", params={"categroy": "a"}))
    # Known parameters alone still answer.
    assert client.get(f"{API}/products", params={"sort": "-price", "page": 1}).status_code == 200


def test_every_get_with_query_parameters_refuses_unknown_ones(
    client: TestClient, admin: str, customer: str
) -> None:
    top = client.get(
        f"{API}/reports/products/top", params={"sort": "quantity"}, headers=auth(admin)
    )
    (detail,) = _refused(top)
    assert detail["loc"] == ["query", "sort"]
    for accepted in ("from", "to", "by", "limit"):
        assert accepted in detail["msg"]
    for path in ("/reports/sales", "/reports/inventory", "/orders"):
        (detail,) = _refused(client.get(f"{API}{path}?foo=1", headers=auth(admin)))
        assert detail["loc"] == ["query", "foo"], path
    (detail,) = _refused(client.get(f"{API}/orders", params={"foo": 1}, headers=auth(customer)))
    assert "from" in detail["msg"]
    assert "status" in detail["msg"]
    # The aliases are the accepted names.
    dated = {"from": "2026-01-01", "to": "2026-12-31", "by": "quantity"}
    top = client.get(f"{API}/reports/products/top", params=dated, headers=auth(admin))
    assert top.status_code == 200, top.text


def test_an_invalid_choice_is_a_422_listing_the_allowed_values(
    client: TestClient, admin: str
) -> None:
    message = _messages(_refused(client.get(f"{API}/products", params={"sort": "quantity"})))
    for allowed in ("'name'", "'-name'", "'price'", "'-price'", "'-created_at'"):
        assert allowed in message
    top = client.get(f"{API}/reports/products/top", params={"by": "price"}, headers=auth(admin))
    message = _messages(_refused(top))
    assert "'revenue'" in message
    assert "'quantity'" in message


def test_the_category_filter_ignores_case(
    client: TestClient, admin: str, database_url: str
) -> None:
    category = f"Garden-{uuid.uuid4().hex[:8]}"
    created = client.post(
        f"{API}/products", json=product_body(category=category), headers={**auth(admin), **ASYNC}
    )
    assert created.status_code in (201, 202), created.text
    projections.catch_up(database_url)
    for asked in (category, category.lower(), category.upper()):
        listed = client.get(f"{API}/products", params={"category": asked})
        assert listed.status_code == 200
        assert [row["category"] for row in listed.json()["data"]] == [category], asked


def test_placing_an_order_checks_country_and_payment_method(
    client: TestClient, admin: str, customer: str, database_url: str
) -> None:
    created = client.post(f"{API}/products", json=product_body(), headers={**auth(admin), **ASYNC})
    product_id = created.json()["data"]["id"]
    projections.catch_up(database_url)

    def place(**overrides: Any) -> Any:
        body = {**order(**overrides), "items": [{"product_id": product_id, "quantity": 1}]}
        return client.post(f"{API}/orders", json=body, headers={**auth(customer), **ASYNC})

    (detail,) = _refused(place(address={"country": "ZZ"}))
    assert detail["loc"] == ["body", "shipping_address", "country"]
    (detail,) = _refused(place(payment_method="bitcoin"))
    assert detail["loc"] == ["body", "payment_method"]
    assert "'bank_transfer'" in detail["msg"]
    placed = place(address={"country": "de"}, payment_method="bank_transfer")
    assert placed.status_code in (201, 202), placed.text
    projections.catch_up(database_url)
    order_id = placed.json()["data"]["id"]
    fetched = client.get(f"{API}/orders/{order_id}", headers=auth(customer)).json()["data"]
    assert fetched["shipping_address"]["country"] == "DE"
    assert fetched["payment_method"] == "bank_transfer"
