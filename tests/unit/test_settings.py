"""Settings validation: a bad value stops start-up with one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.settings import Environment, Settings, SettingsError, load_settings, parse_rate

SECRET = "s" * 32
VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "LEDGER_ENV",
    "LEDGER_SECRET_KEY",
    "LEDGER_DATA_DIR",
    "LEDGER_CURRENCY",
    "RATE_LIMIT_LOGIN_PER_EMAIL",
    "RATE_LIMIT_AUTH_PER_ADDRESS",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "LEDGER_DB_POOL_SIZE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable from the outer environment, and no .env file, leaks into a test."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load(monkeypatch, **env)
    message = str(caught.value)
    assert "\n" not in message
    return message


PRODUCTION = {
    "LEDGER_ENV": "production",
    "LEDGER_SECRET_KEY": SECRET,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DATABASE_URL": "postgresql://ledger@127.0.0.1/ledger",
}


def test_development_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch)
    assert settings.ledger_env is Environment.DEVELOPMENT
    assert not settings.is_production
    assert settings.database_url is None
    assert settings.effective_log_format == "console"
    assert settings.login_rate == (10, 900)
    assert settings.auth_address_rate == (60, 60)


def test_a_complete_production_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, **PRODUCTION)
    assert settings.is_production
    assert settings.effective_log_format == "json"
    assert settings.secret_key == SECRET


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("LEDGER_SECRET_KEY", "LEDGER_SECRET_KEY"),
        ("REDIS_URL", "REDIS_URL"),
        ("DATABASE_URL", "DATABASE_URL"),
    ],
)
def test_production_requires(monkeypatch: pytest.MonkeyPatch, missing: str, named: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    assert named in refused(monkeypatch, **env)


def test_production_refuses_a_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, **{**PRODUCTION, "LEDGER_SECRET_KEY": "s" * 31})
    assert "LEDGER_SECRET_KEY" in message
    assert "32 bytes" in message


def test_a_short_secret_is_refused_in_development_too(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "LEDGER_SECRET_KEY" in refused(monkeypatch, LEDGER_SECRET_KEY="short")


def test_secret_length_counts_bytes_not_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    # 16 two-byte characters are 32 bytes.
    settings = load(monkeypatch, **{**PRODUCTION, "LEDGER_SECRET_KEY": "é" * 16})
    assert settings.secret_key == "é" * 16


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_URL", "sqlite:///ledger.db"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("LEDGER_ENV", "staging"),
        ("LEDGER_CURRENCY", "dollars"),
        ("RATE_LIMIT_LOGIN_PER_EMAIL", "ten per minute"),
        ("RATE_LIMIT_LOGIN_PER_EMAIL", "0/minute"),
        ("RATE_LIMIT_AUTH_PER_ADDRESS", "5/fortnight"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "LOUD"),
        ("LEDGER_DB_POOL_SIZE", "0"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    assert refused(monkeypatch, **{variable: value}).startswith(f"{variable}: ")


def test_several_bad_values_are_all_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, DATABASE_URL="mysql://x", LOG_LEVEL="LOUD")
    assert "DATABASE_URL" in message
    assert "LOG_LEVEL" in message


def test_empty_urls_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, DATABASE_URL="", REDIS_URL="")
    assert (settings.database_url, settings.redis_url) == (None, None)


def test_a_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LEDGER_CURRENCY=EUR\n")
    assert load(monkeypatch).ledger_currency == "EUR"


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60/minute", (60, 60)),
        ("10/15minutes", (10, 900)),
        ("5/second", (5, 1)),
        ("100/2hours", (100, 7200)),
        ("1000/day", (1000, 86400)),
        (" OFF ", None),
    ],
)
def test_parse_rate(text: str, rate: tuple[int, int] | None) -> None:
    assert parse_rate(text) == rate


def test_rate_limits_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, RATE_LIMIT_AUTH_PER_ADDRESS="off").auth_address_rate is None


def test_development_makes_a_secret_once_and_keeps_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = load(monkeypatch, LEDGER_DATA_DIR=str(tmp_path / "data")).secret_key
    again = load_settings().secret_key
    assert first == again
    assert len(first.encode()) >= 32
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
