"""Money as integer minor units of one ISO 4217 currency; never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ledger.domain.errors import ValidationError

# Currencies whose minor unit is not the usual two digits.
_EXPONENTS = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3,
    "LYD": 3, "OMR": 3, "PYG": 0, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}  # fmt: skip

MAX_MINOR = 10**15  # far above any real price, far below what PostgreSQL bigint holds
_AMOUNT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point for `currency`."""
    return _EXPONENTS.get(currency.upper(), 2)


def parse_minor(value: str | int | float | Decimal, currency: str) -> int:
    """Turns a decimal amount ("29.99", 29.99 or 30) into minor units, refusing extra digits."""
    if isinstance(value, bool):
        raise ValidationError("an amount must be a number or a decimal string")
    if isinstance(value, Decimal):
        amount = value
    else:
        text = str(value).strip()
        # Decimal() also takes "1_000", "NaN" and non-ASCII digits; an amount is plain ASCII.
        if not _AMOUNT.fullmatch(text):
            raise ValidationError(f"{value!r} is not a decimal amount")
        amount = Decimal(text)
    if not amount.is_finite():
        raise ValidationError(f"{value!r} is not a finite amount")
    # Exact integer arithmetic on the digits: Decimal arithmetic would round to 28 digits
    # (accepting "1.000…001") or overflow on a huge exponent.
    sign, digits, exp = amount.as_tuple()
    coefficient = int("".join(map(str, digits)))
    exponent = currency_exponent(currency)
    shift = int(exp) + exponent
    if shift < 0:
        # Decimals as written count: "1.500" is refused for USD even though it equals 1.50.
        raise ValidationError(f"{currency} amounts have at most {exponent} decimals")
    if coefficient == 0:
        return 0
    minor: int
    if len(digits) + shift > len(str(MAX_MINOR)):
        raise ValidationError("amount is too large")
    else:
        minor = coefficient * 10**shift
    if minor >= MAX_MINOR:
        raise ValidationError("amount is too large")
    return -minor if sign else minor


def format_minor(minor: int, currency: str) -> str:
    """Minor units to the decimal string clients see: 2999 -> "29.99"."""
    exponent = currency_exponent(currency)
    if exponent == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}"


@dataclass(frozen=True)
class Money:
    """An amount in minor units with its currency."""

    minor: int
    currency: str

    def __str__(self) -> str:
        return format_minor(self.minor, self.currency)
