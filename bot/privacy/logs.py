"""Logging that keeps what people typed out of the logs (R-PRV-8, R-SEC-4).

Samen's own loggers carry ids, kinds and counts only, at every level. Its dependencies
do not promise that: at DEBUG the SQLite driver logs each statement with its parameters
(names, codes, sealed values before sealing), SQLAlchemy's engine logs SQL and rows, the
HTTP clients log URLs (the Telegram token is in every one), and the Slack and Telegram
SDKs log whole payloads (display names, answers). Their loggers are capped at WARNING,
whatever level Samen itself logs at, so `samen run --log-level debug` shows Samen's own
debugging and none of theirs.
"""

from __future__ import annotations

import logging

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Loggers of dependencies, capped at WARNING (a logger's own level wins over the root's).
CAPPED = (
    "sqlalchemy",  # engine (SQL, rows), pool, orm
    "aiosqlite",  # "executing <statement with its parameters>" at DEBUG
    "asyncpg",
    "alembic",
    "apscheduler",
    "httpx",  # request URLs: the Telegram token
    "httpcore",
    "urllib3",
    "aiohttp",
    "websockets",
    "websocket",
    "slack_sdk",  # request and response bodies at DEBUG
    "slack_bolt",
    "telegram",  # updates as received at DEBUG
    "nio",  # matrix-nio: sync responses and room keys at DEBUG/INFO
    "peewee",  # matrix-nio's crypto store: SQL at DEBUG
    "asyncio",
)


def cap_dependencies() -> None:
    """Cap the dependencies' loggers at WARNING (idempotent)."""
    for name in CAPPED:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def configure(level: str = "info") -> None:
    """Log to stderr at `level` (debug, info, warning, error) with the dependencies capped.
    Raises ValueError naming the levels for an unknown one."""
    chosen = LEVELS.get(level.strip().lower())
    if chosen is None:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    logging.basicConfig(level=chosen, format=FORMAT)
    logging.getLogger().setLevel(chosen)
    cap_dependencies()
