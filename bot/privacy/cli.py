"""The privacy commands of `samen`: `keys rotate`, `export`, `forget`, `audit verify`,
`audit anchor`, `purge`.

Registered on the main app by `register(app)` in bot/cli.py. Like every command they
print what was asked to stdout and problems to stderr, never answer text or keys.
"""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.config import Settings
from bot.flowfiles import load_library
from bot.store import access_log, privacy
from bot.store.db import DatabaseUnavailable
from bot.store.rekey import count_under_other_keys, reseal
from bot.store.repo import Store
from bot.store.sealed import ENV_KEY, ENV_OLD_KEYS, DataKeyError, Keyring

keys_app = typer.Typer(help="Manage the data key that seals answers at rest.", no_args_is_help=True)
audit_app = typer.Typer(help="The access log of answers (NEN 7513 style).", no_args_is_help=True)

By = Annotated[str, typer.Option("--by", help="Who runs this (default: admin:<os user>).")]
For = Annotated[str, typer.Option("--for", help="On whose behalf (e.g. the person asking).")]


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add the privacy commands to `app`; `samen export --person/--team` is the export
    group's own command (its subcommands, such as `trajectories`, live in bot/cli.py)."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(audit_app, name="audit")
    export_app.callback(invoke_without_command=True)(export)
    app.command("forget")(forget)
    app.command("purge")(purge)


def _actor(by: str) -> str:
    return by or f"admin:{getpass.getuser()}"


def export(
    ctx: typer.Context,
    person: Annotated[str, typer.Option("--person", help="A platform user id.")] = "",
    team: Annotated[str, typer.Option("--team", help="A team id.")] = "",
    format: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for the CSV files (one per table).")
    ] = None,
    by: By = "",
    for_: For = "",
) -> None:
    """Export a person's or a team's data, complete (JSON to stdout, or CSV files)."""
    if ctx.invoked_subcommand is not None:
        return  # e.g. `samen export trajectories`
    if bool(person) == bool(team):
        raise _fail("give exactly one of --person <user id> or --team <team id>", 2)
    if format not in ("json", "csv"):
        raise _fail(f"--format must be json or csv, not {format!r}", 2)
    if format == "csv" and out is None:
        raise _fail("--format csv needs --out <directory> (one file per table)", 2)
    settings = Settings()
    try:
        data = asyncio.run(_export(settings, person, team, _actor(by), for_))
    except (DatabaseUnavailable, DataKeyError, LookupError) as error:
        raise _fail(str(error).strip("'\"")) from None
    if format == "json":
        typer.echo(privacy.to_json(data))
        return
    assert out is not None
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, content in privacy.to_csv(data).items():
        path = out / name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o600)
    typer.echo(f"wrote {len(data)} CSV files to {out}")


async def _export(
    settings: Settings, person: str, team: str, actor: str, on_behalf_of: str
) -> dict[str, list[dict[str, Any]]]:
    store = await open_store(settings)
    now = datetime.now(UTC)
    try:
        if person:
            return await privacy.export_person(
                store, person, actor=actor, on_behalf_of=on_behalf_of, now=now
            )
        flows = load_library(_own_flows(settings)).flows
        return await privacy.export_team(
            store, team, actor=actor, on_behalf_of=on_behalf_of, flows=flows, now=now
        )
    finally:
        await store.close()


def forget(
    user: Annotated[str, typer.Argument(help="The platform user id of the person.")],
    by: By = "",
    for_: For = "",
) -> None:
    """Erase a person: every row of theirs, their place in runs, pending timers, and the
    messages Samen delivered to them (queued for deletion on the platform)."""
    settings = Settings()
    try:
        result = asyncio.run(_forget(settings, user, _actor(by), for_))
    except (DatabaseUnavailable, DataKeyError) as error:
        raise _fail(str(error)) from None
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(result.counts.items())) or "nothing found"
    typer.echo(f"forgotten ({counts})")
    if result.deletions_queued:
        n = result.deletions_queued
        typer.echo(
            f"{n} delivered message{'s' if n != 1 else ''} queued for deletion on the "
            "platform: the running Samen deletes them (its outbox; they wait while it is "
            "stopped); a message the platform refuses to delete (Telegram: older than 48 "
            "hours) is logged and recorded in the access log"
        )


async def _forget(settings: Settings, user: str, actor: str, for_: str) -> privacy.Erasure:
    store = await open_store(settings)
    try:
        return await privacy.forget(
            store, user, actor=actor, on_behalf_of=for_, now=datetime.now(UTC)
        )
    finally:
        await store.close()


def purge() -> None:
    """Run the retention purge now (it also runs daily by itself)."""
    settings = Settings()
    try:
        result = asyncio.run(_purge(settings))
    except (DatabaseUnavailable, DataKeyError) as error:
        raise _fail(str(error)) from None
    typer.echo("purged " + ", ".join(f"{k}: {v}" for k, v in sorted(result.counts.items())))


async def _purge(settings: Settings) -> privacy.Purge:
    store = await open_store(settings)
    try:
        flows = load_library(_own_flows(settings)).flows
        return await privacy.purge(store, flows, now=datetime.now(UTC), actor="admin:purge")
    finally:
        await store.close()


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        str,
        typer.Option("--anchor", help="An anchor kept from `samen audit anchor` (<rows>:<hash>)."),
    ] = "",
) -> None:
    """Check the access log's chain; exit 1 at the first altered row, or when the log
    no longer matches the anchor you kept (rows cut off the end, a rebuilt chain)."""
    try:
        kept = access_log.Anchor.parse(anchor) if anchor else None
    except ValueError as error:
        raise _fail(str(error), 2) from None
    settings = Settings()
    try:
        verdict = asyncio.run(_verify(settings, kept))
    except (DatabaseUnavailable, DataKeyError) as error:
        raise _fail(str(error)) from None
    if not verdict.ok:
        raise _fail(f"the access log was altered: {verdict.problem} ({verdict.rows} rows checked)")
    against = " and matches the anchor" if kept is not None else ""
    typer.echo(f"access log intact{against}: {verdict.rows} rows")


async def _verify(settings: Settings, kept: access_log.Anchor | None) -> access_log.Verdict:
    store = await open_store(settings)
    try:
        return await store.verify_access_log(kept)
    finally:
        await store.close()


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Print the access log's anchor (row count and last hash). Keep it outside Samen
    (a ticket, an e-mail to yourself, a paper log): `samen audit verify --anchor` then
    shows whether rows were cut off the end or the log was rebuilt since."""
    settings = Settings()
    try:
        kept = asyncio.run(_anchor(settings))
    except (DatabaseUnavailable, DataKeyError) as error:
        raise _fail(str(error)) from None
    typer.echo(str(kept))


async def _anchor(settings: Settings) -> access_log.Anchor:
    store = await open_store(settings)
    try:
        verdict = await store.verify_access_log()
        if not verdict.ok:  # never anchor a log that is already broken
            raise DataKeyError(f"the access log was altered: {verdict.problem}; not anchored")
        return await store.access_log_anchor()
    finally:
        await store.close()


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
    """Re-seal every answer under a new data key. Stop Samen first: a running process
    would go on sealing with the old key.

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
    if ring.new:  # rotating from a missing key file would only make a key that opens nothing
        raise DataKeyError(
            f"there is no key file at {ring.path} to rotate; restore it from your backup "
            "(or start Samen once on an empty database to make one)"
        )
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


def _own_flows(settings: Settings) -> Path | None:
    """The organisation's flows folder, when it exists (the shipped flows always load)."""
    own = settings.flows_dir
    return own if own is not None and own.is_dir() else None
