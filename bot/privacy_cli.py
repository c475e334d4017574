"""The privacy commands of `samen`: `keys rotate`, `export`, `forget`, `audit verify`, `purge`.

Registered on the main app by `register(app)` in bot/cli.py. Like every command they
print what was asked to stdout and problems to stderr, never answer text or keys.
"""

from __future__ import annotations

import asyncio

import typer

from bot.config import Settings
from bot.store.db import DatabaseUnavailable
from bot.store.rekey import count_under_other_keys, reseal
from bot.store.repo import Store
from bot.store.sealed import ENV_KEY, ENV_OLD_KEYS, DataKeyError, Keyring

keys_app = typer.Typer(help="Manage the data key that seals answers at rest.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def keyring_for(settings: Settings) -> Keyring:
    return Keyring.from_environment(settings.data_dir)


async def open_store(settings: Settings, keyring: Keyring | None = None) -> Store:
    return await Store.open(
        settings.database_url_resolved(), migrate=True, keyring=keyring or keyring_for(settings)
    )


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-seal every answer under a new data key.

    With the key file (the embedded default) a new key is made, everything is re-sealed,
    and the old key is removed once nothing needs it. With SAMEN_DATA_KEY, set the new
    key there and the old one in SAMEN_DATA_KEYS_OLD first; afterwards drop the old one."""
    settings = Settings()
    try:
        counts, left, from_file = asyncio.run(_rotate(settings))
    except (DatabaseUnavailable, DataKeyError) as error:
        raise _fail(str(error)) from None
    total = sum(counts.values())
    typer.echo(f"re-sealed {total} values ({', '.join(f'{k}: {v}' for k, v in counts.items())})")
    if left:
        raise _fail(f"{left} values are still sealed with an old key; run the command again")
    if from_file:
        typer.echo("rotation done; the old key was removed from the key file")
    else:
        typer.echo(f"rotation done; you may now remove {ENV_OLD_KEYS} (keep {ENV_KEY})")


async def _rotate(settings: Settings) -> tuple[dict[str, int], int, bool]:
    ring = keyring_for(settings)
    from_file = ring.path is not None
    if from_file:
        ring = ring.with_new_key()
        ring.save()  # the old keys stay in the file until every value is re-sealed
    store = await open_store(settings, ring)
    try:
        counts = await reseal(store)
        left = await count_under_other_keys(store)
    finally:
        await store.close()
    if from_file and not left:
        ring.only_current().save()
    return counts, left, from_file
