"""Matrix for Samen: event parsing, message rendering and the matrix-nio adapter.

The composition root calls `matrix_adapter_from_env(settings, ...)`; nothing else in `bot/`
imports this package.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adapters.matrix.adapter import MatrixAdapter, MatrixLoginError, SessionKeeper
from bot.config import Settings

__all__ = [
    "MatrixAdapter",
    "MatrixLoginError",
    "MatrixNotConfigured",
    "matrix_adapter_from_env",
]


class MatrixNotConfigured(ValueError):
    """A Matrix setting is missing or malformed (names the variable, never a value)."""


def allowed_servers(settings: Settings, user_id: str) -> frozenset[str]:
    """`SAMEN_MATRIX_ALLOWED_SERVERS` (comma-separated), default the bot's own server."""
    given = {s.strip().lower() for s in (settings.matrix_allowed_servers or "").split(",")}
    given.discard("")
    return frozenset(given) if given else frozenset({user_id.partition(":")[2].lower()})


def matrix_adapter_from_env(
    settings: Settings,
    *,
    store_path: Path | None,
    session: SessionKeeper | None,
    pickle_key: str | Callable[[], str] | None,
    language: str = "nl",
) -> MatrixAdapter:
    """The Matrix adapter from `MATRIX_HOMESERVER`, `MATRIX_USER_ID` and
    `MATRIX_ACCESS_TOKEN` (or `MATRIX_PASSWORD` for a first login)."""
    homeserver = (settings.matrix_homeserver or "").strip().rstrip("/")
    user_id = (settings.matrix_user_id or "").strip()
    if not homeserver:
        raise MatrixNotConfigured("MATRIX_HOMESERVER is not set")
    if not homeserver.startswith(("https://", "http://")):
        raise MatrixNotConfigured(
            "MATRIX_HOMESERVER must be the homeserver's URL, e.g. https://matrix.example.org"
        )
    if not user_id.startswith("@") or ":" not in user_id:
        raise MatrixNotConfigured(
            "MATRIX_USER_ID must be the bot's full Matrix id, e.g. @samen:example.org"
        )
    token = settings.matrix_access_token
    password = settings.matrix_password
    if token is None and password is None:
        raise MatrixNotConfigured("MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD is not set")
    return MatrixAdapter(
        homeserver=homeserver,
        user_id=user_id,
        access_token=token.get_secret_value() if token is not None else None,
        password=password.get_secret_value() if password is not None else None,
        session=session,
        store_path=store_path,
        pickle_key=pickle_key,
        allowed_servers=allowed_servers(settings, user_id),
        language=language,
    )
