"""Telegram for Samen: message rendering, update parsing and the python-telegram-bot adapter.

The composition root calls `telegram_adapter_from_env(settings)`; nothing else in `bot/`
imports this package.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from adapters.telegram.adapter import TelegramAdapter, deep_link
from bot.config import Settings

__all__ = ["TelegramAdapter", "TelegramNotConfigured", "deep_link", "telegram_adapter_from_env"]


class TelegramNotConfigured(ValueError):
    """A Telegram setting the chosen mode needs is missing (names the variable, never a value)."""


_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def telegram_adapter_from_env(
    settings: Settings,
    *,
    webhook_url: str | None = None,
    port: int = 8443,
    host: str = "127.0.0.1",
    webhook_path: str = "/telegram",
    language: str = "nl",
    environ: Mapping[str, str] | None = None,
) -> TelegramAdapter:
    """The Telegram adapter from `TELEGRAM_BOT_TOKEN` and `SAMEN_TELEGRAM_API_URL` (another
    Bot API base in python-telegram-bot's form, e.g. `http://127.0.0.1:8081/bot`: a
    self-hosted Bot API server, or the local fake in tests).

    Long polling by default; with `webhook_url` (`samen run --telegram-webhook URL --port N`)
    it serves `webhook_path` on `host:port` and registers `webhook_url` with Telegram."""
    env = os.environ if environ is None else environ
    if settings.telegram_bot_token is None:
        raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set")
    secret = (env.get("SAMEN_TELEGRAM_WEBHOOK_SECRET") or "").strip() or None
    if secret is not None and not _SECRET.fullmatch(secret):
        raise ValueError(
            "SAMEN_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ "
            "and - (Telegram's rule for a webhook secret token)"
        )
    return TelegramAdapter(
        token=settings.telegram_bot_token.get_secret_value(),
        mode="webhook" if webhook_url else "polling",
        webhook_url=webhook_url,
        host=host,
        port=port,
        webhook_path=webhook_path,
        api_url=(env.get("SAMEN_TELEGRAM_API_URL") or "").strip() or None,
        language=language,
        webhook_secret=secret,
    )
