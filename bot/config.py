"""Settings: where Samen keeps its data and flows, and the platform secrets, from the environment.

Everything but the secrets is read from `SAMEN_*` variables (`SAMEN_DATA_DIR`,
`SAMEN_DATABASE_URL`, `SAMEN_FLOWS_DIR`). The platform secrets are read only from their
conventional, unprefixed names (`SLACK_BOT_TOKEN`, ...) and never from a file in the
repository. Secrets are `SecretStr`, and a database URL is shown with its password hidden,
so neither appears in a repr, a log line or an error message (R-SEC-4).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.store.db import redact_url


class Settings(BaseSettings):
    """The process settings; build once in the composition root and pass along."""

    model_config = SettingsConfigDict(env_prefix="SAMEN_", extra="ignore")

    data_dir: Path = Path(".samen")
    database_url: str | None = None  # None: the embedded SQLite file in data_dir
    # The organisation's own flows, beside the shipped library (see bot/flowfiles.py); a
    # folder that does not exist (the default, where there is no ./flows) adds nothing.
    flows_dir: Path = Path("flows")
    teams_file: Path = Path("config/teams.yaml")  # optional: teams set up before first use

    # Only from the environment, under their usual names: the prefix does not apply to an
    # explicit validation_alias, so SAMEN_SLACK_BOT_TOKEN is deliberately not read.
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_BOT_TOKEN"
    )
    # Matrix: the homeserver's URL and the bot's account; an access token, or a password
    # for a first login that stores its token (and device) in the data folder.
    matrix_homeserver: str | None = Field(default=None, validation_alias="MATRIX_HOMESERVER")
    matrix_user_id: str | None = Field(default=None, validation_alias="MATRIX_USER_ID")
    matrix_access_token: SecretStr | None = Field(
        default=None, validation_alias="MATRIX_ACCESS_TOKEN"
    )
    matrix_password: SecretStr | None = Field(default=None, validation_alias="MATRIX_PASSWORD")
    # Homeservers whose people may enrol the bot, comma-separated (default: the bot's own).
    matrix_allowed_servers: str | None = None

    def database_url_resolved(self) -> str:
        """The database URL to connect to: `SAMEN_DATABASE_URL`, or SQLite in `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'samen.db').as_posix()}"

    def database_url_redacted(self) -> str:
        """The database URL as it may be shown to a person or a log: password hidden."""
        return redact_url(self.database_url_resolved())

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The URL may carry a password; SecretStr fields already mask themselves.
        for name, value in super().__repr_args__():
            if name == "database_url" and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value
