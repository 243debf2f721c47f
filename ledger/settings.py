"""The one settings object: environment variables, or a `.env` file beside the working folder.

A bad value stops start-up with one line naming the variable and why (`SettingsError`)."""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.domain.money import CURRENCIES


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


_RATE = re.compile(r"^(\d+)/(\d*)\s*(second|minute|hour|day)s?$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MIN_SECRET_BYTES = 32


class SettingsError(Exception):
    """A configuration value is missing or wrong; the message names the variable."""


def parse_rate(value: str) -> tuple[int, int] | None:
    """`10/15minutes` -> (10 requests, 900 seconds); `off` -> None."""
    text = value.strip().lower()
    if text == "off":
        return None
    match = _RATE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError("expected a rate such as 60/minute or 10/15minutes, or off")
    count, multiple, unit = int(match.group(1)), match.group(2), match.group(3)
    return count, int(multiple or 1) * _UNIT_SECONDS[unit]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str | None = None
    # A streaming replica of DATABASE_URL's server: GETs read there when it has caught up.
    database_replica_url: str | None = None
    redis_url: str | None = None
    # Prefixes every Redis key, so ledgers sharing a Redis share nothing; unset, the API derives
    # it from the database's identity (every process of one ledger agrees on it).
    ledger_redis_namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    ledger_env: Environment = Environment.DEVELOPMENT
    ledger_secret_key: str | None = None
    ledger_data_dir: Path = Path(".ledger")
    ledger_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    rate_limit_login_per_email: str = "10/15minutes"
    rate_limit_auth_per_address: str = "60/minute"
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # How long a command's response waits for its projections (read your writes).
    ledger_consistency_timeout: Annotated[float, Field(ge=0, le=30)] = 2.0
    # A projection is unhealthy when it lags the store by more than this many seconds.
    ledger_lag_threshold_seconds: Annotated[float, Field(gt=0)] = 30.0
    # How often the API deletes expired idempotency keys, refresh tokens and command ids.
    ledger_purge_interval: Annotated[float, Field(gt=0)] = 3600.0
    ledger_slow_request_ms: Annotated[float, Field(gt=0)] = 500.0
    ledger_slow_query_ms: Annotated[float, Field(gt=0)] = 200.0
    # Database session limits, so a stuck transaction cannot freeze the writers.
    ledger_lock_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    ledger_statement_timeout_seconds: Annotated[float, Field(gt=0)] = 15.0
    ledger_db_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    ledger_cors_origins: str = ""
    access_token_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    refresh_token_days: Annotated[int, Field(ge=1, le=365)] = 14

    @field_validator(
        "database_url", "database_replica_url", "redis_url", "ledger_redis_namespace", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        """postgresql://… or its alias postgres://… (libpq takes both), kept as postgresql://."""
        if value is None:
            return None
        if value.startswith("postgres://"):
            return "postgresql://" + value.removeprefix("postgres://")
        if not value.startswith("postgresql://"):
            raise ValueError("must start with postgresql:// (or its alias postgres://)")
        return value

    @field_validator("ledger_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(
                f"{value} is not an ISO 4217 currency the ledger supports (e.g. USD, EUR, JPY)"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("rate_limit_login_per_email", "rate_limit_auth_per_address")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.ledger_env is Environment.PRODUCTION:
            if not self.ledger_secret_key:
                raise ValueError("LEDGER_SECRET_KEY is required in production")
            if len(self.ledger_secret_key.encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"LEDGER_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
            if not self.redis_url:
                raise ValueError("REDIS_URL is required in production")
            if not self.database_url:
                raise ValueError("DATABASE_URL is required in production")
        elif self.ledger_secret_key and len(self.ledger_secret_key.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"LEDGER_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
        return self

    @property
    def is_production(self) -> bool:
        return self.ledger_env is Environment.PRODUCTION

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("json" if self.is_production else "console")

    @property
    def login_rate(self) -> tuple[int, int] | None:
        return parse_rate(self.rate_limit_login_per_email)

    @property
    def auth_address_rate(self) -> tuple[int, int] | None:
        return parse_rate(self.rate_limit_auth_per_address)

    @cached_property
    def secret_key(self) -> str:
        """The signing key: configured, or made once and kept in the data folder."""
        if self.ledger_secret_key:
            return self.ledger_secret_key
        path = self.ledger_data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def load_settings() -> Settings:
    """Reads the settings, turning a validation failure into one line per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(message if not error["loc"] else f"{name}: {message}")
        raise SettingsError("; ".join(problems)) from None
