"""Alembic migrations of the Samen schema; run them with `bot.store.migrate.upgrade`."""
