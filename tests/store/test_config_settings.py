"""Settings from the environment: the database URL, and secrets that never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings

VARIABLES = (
    "SAMEN_DATA_DIR",
    "SAMEN_DATABASE_URL",
    "SAMEN_FLOWS_DIR",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "SAMEN_SLACK_BOT_TOKEN",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_default_database_is_sqlite_in_the_data_dir() -> None:
    settings = Settings()
    assert settings.data_dir == Path(".samen") and settings.flows_dir == Path("flows")
    assert settings.database_url_resolved() == "sqlite+aiosqlite:///.samen/samen.db"


def test_the_data_dir_and_database_url_come_from_samen_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMEN_DATA_DIR", "/var/lib/samen")
    assert Settings().database_url_resolved() == "sqlite+aiosqlite:////var/lib/samen/samen.db"
    monkeypatch.setenv("SAMEN_DATABASE_URL", "postgresql+asyncpg://samen:pw@db/samen")
    assert Settings().database_url_resolved() == "postgresql+asyncpg://samen:pw@db/samen"


def test_secrets_are_read_only_under_their_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMEN_SLACK_BOT_TOKEN", "xoxb-wrong-place")
    assert Settings().slack_bot_token is None
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-sentinel-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-sentinel-2")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-sentinel-3")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:tg-sentinel-4")
    settings = Settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-sentinel-1"
    assert settings.slack_app_token is not None
    assert settings.slack_app_token.get_secret_value() == "xapp-sentinel-2"
    assert settings.slack_signing_secret is not None
    assert settings.slack_signing_secret.get_secret_value() == "signing-sentinel-3"
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123:tg-sentinel-4"


def test_no_secret_or_database_password_shows_in_the_settings_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-sentinel-1")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:tg-sentinel-4")
    monkeypatch.setenv("SAMEN_DATABASE_URL", "postgresql+asyncpg://samen:db-sentinel@db/samen")
    settings = Settings()
    shown = f"{settings!r} {settings} {settings.model_dump()}"
    for secret in ("xoxb-sentinel-1", "tg-sentinel-4", "db-sentinel"):
        assert secret not in repr(settings) and secret not in str(settings)
    assert "xoxb-sentinel-1" not in shown
    assert "postgresql+asyncpg://samen:***@db/samen" in repr(settings)
    assert settings.database_url_redacted() == "postgresql+asyncpg://samen:***@db/samen"
