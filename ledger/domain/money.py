"""Money as integer minor units of one ISO 4217 currency; never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ledger.domain.errors import ValidationError

# The ISO 4217 currencies a shop can price in, by digits after the decimal point: every
# circulating currency, without funds (BOV, CLF, USN...), precious metals, SDRs and test codes.
_EXPONENTS = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
    "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
    "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2,
    "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0,
    "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2,
    "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2,
    "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
    "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0,
    "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3,
    "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
    "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2,
    "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2,
    "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2,
    "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2,
    "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2,
    "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2,
    "VED": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0,
    "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip
CURRENCIES = frozenset(_EXPONENTS)
"""The currency codes the ledger can keep money in (`LEDGER_CURRENCY` must be one)."""

MAX_MINOR = 10**15  # far above any real price, far below what PostgreSQL bigint holds
_AMOUNT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point for `currency` (two for a code not in CURRENCIES)."""
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
