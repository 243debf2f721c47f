"""Money: decimal amounts to integer minor units and back, exactly, per currency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import Money, ValidationError, currency_exponent, format_minor, parse_minor
from ledger.domain.money import MAX_MINOR


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("29.99", "USD", 2999),
        (" 29.99 ", "USD", 2999),
        (29.99, "USD", 2999),
        (30, "USD", 3000),
        ("0", "USD", 0),
        ("0.5", "EUR", 50),
        ("1.50", "USD", 150),
        (Decimal("12.34"), "USD", 1234),
        ("1e2", "USD", 10000),
        ("-4.20", "USD", -420),
        ("1500", "JPY", 1500),
        ("1500", "jpy", 1500),
        ("1.234", "KWD", 1234),
        ("9999999999999.99", "USD", MAX_MINOR - 1),
    ],
)
def test_parse_minor_accepts_exact_amounts(
    value: str | int | float | Decimal, currency: str, minor: int
) -> None:
    assert parse_minor(value, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency", "message"),
    [
        ("29.999", "USD", "at most 2 decimals"),
        # Decimals as written count, trailing zeros included (spec: more decimals is a 422).
        ("1.500", "USD", "at most 2 decimals"),
        ("0.000", "USD", "at most 2 decimals"),
        ("0.001", "USD", "at most 2 decimals"),
        ("-0.001", "USD", "at most 2 decimals"),
        (0.1 + 0.2, "USD", "at most 2 decimals"),
        ("1.5", "JPY", "at most 0 decimals"),
        ("1.2345", "KWD", "at most 3 decimals"),
        # More digits than the default decimal context keeps: must not be rounded away.
        ("1.000000000000000000000000000001", "USD", "at most 2 decimals"),
        ("1e-9999999999", "USD", "at most 2 decimals"),
        ("10000000000000", "USD", "too large"),
        ("-10000000000000", "USD", "too large"),
        ("1e20", "USD", "too large"),
        ("1e999999", "USD", "too large"),
        ("1E+999999999999", "USD", "too large"),
        ("abc", "USD", "not a decimal amount"),
        ("", "USD", "not a decimal amount"),
        ("1_000", "USD", "not a decimal amount"),
        ("NaN", "USD", "not a"),
        ("Infinity", "USD", "not a"),
        (float("inf"), "USD", "not a"),
        (Decimal("NaN"), "USD", "not a finite amount"),
        (Decimal("-Infinity"), "USD", "not a finite amount"),
        (Decimal("1.005"), "USD", "at most 2 decimals"),
        (True, "USD", "must be a number"),
    ],
)
def test_parse_minor_refuses_what_it_cannot_take_exactly(
    value: str | float | bool | Decimal, currency: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_minor(value, currency)


def test_zero_is_zero_however_written_within_the_decimals() -> None:
    assert parse_minor("0E+1000000000", "USD") == 0
    assert parse_minor("0.00", "USD") == 0
    with pytest.raises(ValidationError, match="at most 2 decimals"):
        parse_minor("0E-1000000000", "USD")


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (2999, "USD", "29.99"),
        (5, "USD", "0.05"),
        (0, "USD", "0.00"),
        (-420, "USD", "-4.20"),
        (-5, "USD", "-0.05"),
        (1500, "JPY", "1500"),
        (-7, "JPY", "-7"),
        (1234, "KWD", "1.234"),
        (MAX_MINOR - 1, "USD", "9999999999999.99"),
    ],
)
def test_format_minor(minor: int, currency: str, text: str) -> None:
    assert format_minor(minor, currency) == text


def test_currency_exponents() -> None:
    assert (currency_exponent("USD"), currency_exponent("JPY"), currency_exponent("bhd")) == (
        2,
        0,
        3,
    )


def test_money_prints_as_its_decimal_string() -> None:
    assert str(Money(2999, "USD")) == "29.99"
    assert str(Money(500, "JPY")) == "500"


@given(
    minor=st.integers(min_value=-(MAX_MINOR - 1), max_value=MAX_MINOR - 1),
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_format_then_parse_is_the_identity(minor: int, currency: str) -> None:
    assert parse_minor(format_minor(minor, currency), currency) == minor
