"""Slack for Samen: Block Kit rendering, payload parsing and the bolt-based adapter.

The composition root calls `slack_adapter_from_env(settings)`; nothing else in `bot/`
imports this package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from adapters.slack.adapter import SlackAdapter
from bot.config import Settings

__all__ = ["SlackAdapter", "SlackNotConfigured", "slack_adapter_from_env"]


class SlackNotConfigured(ValueError):
    """A Slack credential the chosen mode needs is missing (names the variable, never a value)."""


def slack_adapter_from_env(
    settings: Settings,
    *,
    http: bool = False,
    port: int = 3000,
    host: str = "127.0.0.1",
    language: str = "nl",
    environ: Mapping[str, str] | None = None,
) -> SlackAdapter:
    """The Slack adapter from the settings' secrets and two optional variables:
    `SAMEN_SLACK_API_URL` (the Web API base URL; tests point it at a local fake) and
    `SAMEN_SLACK_WORKSPACE_CAP` (messages per second for the whole workspace, default 8).

    Socket Mode (default) needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN; HTTP mode
    (`http=True`, serving /slack/events and /healthz on `port`) SLACK_BOT_TOKEN and
    SLACK_SIGNING_SECRET."""
    env = os.environ if environ is None else environ
    if settings.slack_bot_token is None:
        raise SlackNotConfigured("SLACK_BOT_TOKEN is not set")
    secret = settings.slack_signing_secret
    app_token = settings.slack_app_token
    if http and secret is None:
        raise SlackNotConfigured("SLACK_SIGNING_SECRET is not set (needed for --slack-http)")
    if not http and app_token is None:
        raise SlackNotConfigured("SLACK_APP_TOKEN is not set (needed for Socket Mode)")
    cap = env.get("SAMEN_SLACK_WORKSPACE_CAP", "").strip()
    if cap and (not cap.isdigit() or int(cap) < 1):
        raise SlackNotConfigured("SAMEN_SLACK_WORKSPACE_CAP must be a whole number ≥ 1")
    return SlackAdapter(
        bot_token=settings.slack_bot_token.get_secret_value(),
        signing_secret=secret.get_secret_value() if secret is not None else None,
        app_token=app_token.get_secret_value() if app_token is not None else None,
        mode="http" if http else "socket",
        host=host,
        port=port,
        api_url=env.get("SAMEN_SLACK_API_URL") or None,
        workspace_cap=int(cap) if cap else 8,
        language=language,
    )
