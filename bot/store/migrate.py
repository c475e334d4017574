"""Schema migrations: `alembic upgrade head`, run from code against the store's async engine.

The Alembic config is built here, not read from an alembic.ini, with `script_location`
pointing at the `migrations` folder next to this file: it works from an installed package
and from any working directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import WRITE_OPTION, open_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Any fixed number: PostgreSQL advisory lock that lets one process migrate at a time.
_MIGRATION_LOCK = 0x53414D45  # "SAME"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for Samen's migrations; `url` only for the standalone `alembic` path."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolates %, which URL-encoded passwords may contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision in the migrations folder."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


SEALED_ONLY = "0008_privacy_sealed_only"  # from here on: no plain value in a sealed column
TEAM_NAMES_SEALED = "0010_pseudonyms"  # teams.name sealed; answers.member pseudonymous


def applied_now(before: str | None, revision: str) -> bool:
    """Whether an upgrade from revision `before` applied `revision` (so its data
    migration, which needs a key Alembic does not have, is to run now, once)."""
    if before is None:
        return True  # a new database: nothing to migrate, and nothing lost by looking
    script = ScriptDirectory.from_config(alembic_config())
    return all(r.revision != revision for r in script.iterate_revisions(before, "base"))


def sealing_applied_now(before: str | None) -> bool:
    """Whether an upgrade from revision `before` applied `SEALED_ONLY` (so the plain
    values from before sealing are to be sealed now, once)."""
    return applied_now(before, SEALED_ONLY)


async def upgrade(engine_or_url: AsyncEngine | str, *, schema: str | None = None) -> None:
    """Bring the database up to the newest revision, in one transaction.

    Given a URL, opens (and afterwards disposes) its own engine; `schema` then applies as
    in `open_engine`. Given an engine, uses it as it is.
    """
    if isinstance(engine_or_url, str):
        engine = await open_engine(engine_or_url, schema=schema)
        try:
            await _upgrade(engine)
        finally:
            await engine.dispose()
    else:
        await _upgrade(engine_or_url)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def _upgrade(engine: AsyncEngine) -> None:
    # On SQLite take the write lock at BEGIN, like every other write of the store.
    async with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes starting at once: the second waits, then finds nothing to do.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        await conn.run_sync(_run_alembic)


def _run_alembic(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
