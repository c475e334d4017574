"""The `samen` command line: one Typer app, with the flow tools under `samen flows`.

Add a command with `@app.command()` (top level: `samen demo`, `samen run`) or
`@flows_app.command()` (`samen flows ...`). Commands print to stdout what the user asked
for and to stderr what went wrong; they log nothing, and never print answers or secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.config import Settings
from bot.core.flowtest import FlowTestError
from bot.core.loader import FlowLoadError
from bot.core.model import Flow
from bot.core.problems import Problem
from bot.demo import DEFAULT_SPEED, play
from bot.flowfiles import (
    SHIPPED_FLOWS_DIR,
    draw_flows,
    find_test_files,
    library_paths,
    load_flows,
    load_library,
    run_test_path,
)
from bot.privacy import logs
from bot.privacy.cli import register as register_privacy_commands
from bot.runtime.clock import ScaledClock
from bot.store.db import DatabaseUnavailable
from bot.store.repo import Store
from bot.store.sealed import ENV_AUDIT_KEY, ENV_KEY, DataKeyError, new_key_text
from bot.teams.teams_file import TeamsFileError
from bot.wiring import DEFAULT_HOST, build_runtime, freeze_startup_objects, platform_adapters

app = typer.Typer(
    name="samen",
    help="Samen: working formats for care teams, as flows in Slack and Telegram.",
    no_args_is_help=True,
    add_completion=False,
)
flows_app = typer.Typer(
    help="Check flow files, draw them, and print their JSON Schema.",
    no_args_is_help=True,
)
app.add_typer(flows_app, name="flows")

FLOWS_DIR = Path("flows")
DEMO_FLOWS = {
    "voorbereiding-huisbezoek",
    "intervisie-complexe-casuistiek",
    "reflectie-na-intervisie",
}
SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _library() -> tuple[list[Path], list[Path]]:
    """(the flows checked when no path is given, every folder of flows in play).

    In play: the shipped library and the organisation's folder (SAMEN_FLOWS_DIR). With no
    path given, the organisation's folder is checked (the shipped library when there is
    none); a flow may always start, and must not clash with, the flows in play.
    """
    settings = Settings()
    own = settings.flows_dir
    if "flows_dir" in settings.model_fields_set and not own.is_dir():
        raise _fail(f"SAMEN_FLOWS_DIR is '{own}', which is not a folder; point it at your flows")
    library = library_paths(own)
    outside = [p for p in library if p.resolve() != SHIPPED_FLOWS_DIR]
    return (outside or library or [own]), library


@flows_app.command("check")
def flows_check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Flow files or directories of flows (default: SAMEN_FLOWS_DIR, else the "
            "shipped library). The shipped library and SAMEN_FLOWS_DIR are always in play."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Count every warning as an error (for CI).")
    ] = False,
) -> None:
    """Check flows and print every problem as file:line:column; exit 1 on any error."""
    default, library = _library()
    try:
        found = load_flows(paths or default, context=library)
    except FileNotFoundError as error:
        raise _fail(str(error)) from None
    for problem in found.problems:
        typer.echo(str(problem))
    errors, warnings = len(found.errors), len(found.warnings)
    typer.echo(
        f"{_plural(len(found.files), 'flow')} checked: "
        f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
        + (" (--strict: warnings count as errors)" if strict and warnings else "")
    )
    if errors or (strict and warnings):
        raise typer.Exit(1)


def flow_schema() -> dict[str, Any]:
    """The JSON Schema of a flow file, for editors (yaml-language-server) and tools."""
    schema = Flow.model_json_schema()
    return {
        "$schema": SCHEMA_URL,
        "title": "Samen flow",
        "description": (
            "A working format for a care team, run by Samen: its id (the file name), "
            "texts per language, roles, triggers and steps. See docs/flows.md."
        ),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


@flows_app.command("schema")
def flows_schema() -> None:
    """Print the JSON Schema of the flow language."""
    typer.echo(json.dumps(flow_schema(), indent=2, ensure_ascii=False))


@flows_app.command("graph")
def flows_graph(
    flow: Annotated[
        str, typer.Argument(help="A flow id (in the flows in play), a flow file or a folder.")
    ],
    language: Annotated[str, typer.Option("--language", "-l", help="Label language.")] = "nl",
) -> None:
    """Print a flow as a Mermaid flowchart (a folder: one chart per flow, as Markdown);
    the steps with errors are drawn in red and their errors printed; exit 1 on errors."""
    default, library = _library()
    path = Path(flow)
    if not path.exists():
        if path.suffix in (".yaml", ".yml") or "/" in flow:
            raise _fail(f"'{flow}' does not exist; give a flow id, a flow file or a folder")
        found = [f / f"{flow}.yaml" for f in (*default, *library) if (f / f"{flow}.yaml").is_file()]
        if not found:
            where = ", ".join(f"{f}/" for f in dict.fromkeys((*default, *library)))
            raise _fail(f"there is no flow '{flow}' in {where}; give a flow id or a flow file")
        path = found[0]
    try:
        drawings = draw_flows(path, library, language)
    except FileNotFoundError as error:
        raise _fail(str(error)) from None
    failed = False
    for drawing in drawings:
        _print_errors(drawing.errors)
        failed = failed or bool(drawing.errors)
    if not any(d.chart for d in drawings):
        raise _fail(f"{path}: nothing to draw; the file is not a flow (see the errors above)", 1)
    if path.is_dir():
        for drawing in drawings:
            if drawing.chart:
                typer.echo(f"## {drawing.name}\n\n```mermaid\n{drawing.chart}```\n")
    else:
        typer.echo(drawings[0].chart, nl=False)
    if failed:
        raise typer.Exit(1)


@flows_app.command("test")
def flows_test(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Test files, flow files, or directories with a tests/ folder (default: "
            "SAMEN_FLOWS_DIR, else the shipped library)."
        ),
    ] = None,
) -> None:
    """Run the YAML flow tests on a simulated clock; exit 1 when one fails.

    Always ends with "N passed, N failed"; a broken test file or case is a failed case
    with its file, case and script step, never a traceback."""
    default, library = _library()
    targets = paths or default
    try:
        test_files = find_test_files(targets)
        found = load_flows(sorted({_flow_dir(p) for p in targets}), context=library)
    except FileNotFoundError as error:
        raise _fail(str(error)) from None
    _print_errors(found.errors)
    passed = failed = 0
    for path in test_files:
        if not path.name.endswith(".test.yaml"):
            own = path.parent / "tests" / f"{path.name.rsplit('.', 1)[0]}.test.yaml"
            hint = f"its tests are in {own}" if own.is_file() else f"write its tests in {own}"
            typer.echo(f"✗ {path}: this is a flow, not a flow test; {hint}")
            failed += 1
            continue
        try:
            result = run_test_path(path, found.flows)
        except (FlowTestError, FlowLoadError) as error:
            typer.echo(f"✗ {path}: {error}")
            failed += 1
            continue
        except Exception as error:  # a test file must end in a report, never a traceback
            typer.echo(f"✗ {path}: the test file could not be run ({type(error).__name__})")
            failed += 1
            continue
        for case in result.cases:
            if case.passed:
                passed += 1
                typer.echo(f"✓ {result.flow}: {case.name}")
            else:
                failed += 1
                typer.echo(f"✗ {result.flow}: {case.name}\n{case.report}")
    if not test_files:
        typer.echo("no flow tests found; put them in <flows folder>/tests/<flow>.test.yaml")
    typer.echo(f"{passed} passed, {failed} failed")
    if failed or not test_files:
        raise typer.Exit(1)


def _flow_dir(path: Path) -> Path:
    """The flows directory a test path belongs to (flows/tests/x.test.yaml -> flows)."""
    if path.is_file():
        path = path.parent
    return path.parent if path.name == "tests" else path


@app.command("demo")
def demo(
    lang: Annotated[str, typer.Option("--lang", help="nl (default) or en.")] = "nl",
    speed: Annotated[
        float, typer.Option("--speed", help="Simulated seconds per real second.")
    ] = DEFAULT_SPEED,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Keep the demo's database here.")
    ] = None,
) -> None:
    """Play a scripted team conversation through the real runtime and print it."""
    if lang not in ("nl", "en"):
        raise _fail(f"unknown language '{lang}'; use nl or en")
    if speed <= 0:
        raise _fail("--speed must be more than 0")
    found = load_library(None)  # the shipped flows: the demo's story is written for them
    _print_errors(found.errors)
    missing = DEMO_FLOWS - set(found.flows)
    if missing:
        raise _fail("the demo needs these shipped flows: " + ", ".join(sorted(missing)), 1)
    logs.configure("warning")
    if data_dir is None:
        # A throw-away demo seals and chains with throw-away keys: no key file is left.
        for name in (ENV_KEY, ENV_AUDIT_KEY):
            os.environ.setdefault(name, new_key_text())
    with tempfile.TemporaryDirectory(prefix="samen-demo-") as scratch:
        where = data_dir or Path(scratch)
        asyncio.run(play(lang, where, speed, typer.echo))
        if data_dir is not None:
            typer.echo(f"\n(the demo's database is in {data_dir / 'samen.db'})")


db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command("run")
def run(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Overrides SAMEN_DATA_DIR.")
    ] = None,
    slack_http: Annotated[
        bool, typer.Option("--slack-http", help="Slack over HTTP instead of Socket Mode.")
    ] = False,
    telegram_webhook: Annotated[
        str | None,
        typer.Option("--telegram-webhook", help="Telegram by webhook at this public URL."),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port for HTTP modes.")] = 3000,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address the HTTP modes listen on (default 127.0.0.1: this machine only; "
            "put a reverse proxy in front, or 0.0.0.0 inside a container).",
        ),
    ] = DEFAULT_HOST,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            help="debug, info (default), warning or error; dependencies stay at warning.",
        ),
    ] = "info",
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed",
            help="Console only: time runs this many times faster (60: a 25-minute step "
            "takes 25 seconds), to try a format in minutes. Uses a scratch database unless "
            "--data-dir is given.",
        ),
    ] = None,
) -> None:
    """Run Samen: every platform whose credentials are set, or the console when none are."""
    if speed is not None and speed <= 0:
        raise _fail("--speed must be more than 0")
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    try:
        # R-SEC-4, R-PRV-8: the dependencies' loggers (SQL parameters, URLs with the
        # Telegram token, payloads) are capped at WARNING whatever the level.
        logs.configure(log_level)
    except ValueError as error:
        raise _fail(str(error), 2) from None
    try:
        platforms = platform_adapters(
            settings,
            slack_http=slack_http,
            telegram_webhook=telegram_webhook,
            port=port,
            host=host,
        )
    except ValueError as error:  # a credential the chosen mode needs is missing
        raise _fail(str(error), 2) from None
    if platforms and speed is not None:
        raise _fail(
            "--speed is for trying Samen in the console; Slack and Telegram run in real "
            "time (unset their credentials to use the console)"
        )
    scratch: tempfile.TemporaryDirectory[str] | None = None
    if platforms:
        main: Any = _run_platforms(settings, platforms)
    elif speed is not None:
        if data_dir is None:  # fast time must not reach the real data
            scratch = tempfile.TemporaryDirectory(prefix="samen-fast-")
            settings = settings.model_copy(
                update={"data_dir": Path(scratch.name), "database_url": None}
            )
            # A scratch database seals and chains with throw-away keys: no key file stays.
            for name in (ENV_KEY, ENV_AUDIT_KEY):
                os.environ.setdefault(name, new_key_text())
        typer.echo(f"Time runs {speed:g} times faster; the data is kept in {settings.data_dir}.")
        main = _run_console(settings, ScaledClock(speed))
    else:
        main = _run_console(settings)
    try:
        asyncio.run(main)
    except (DatabaseUnavailable, PlatformUnavailable, DataKeyError) as error:
        raise _fail(str(error), 1) from None
    except FileNotFoundError as error:
        raise _fail(f"{error} (SAMEN_FLOWS_DIR names a folder of your own flows)", 1) from None
    except TeamsFileError as error:
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        raise _fail(f"{settings.teams_file} has errors; fix them and start again", 1) from None
    except ValueError as error:  # a team setting the store refused (e.g. an unknown zone)
        raise _fail(f"{settings.teams_file}: {error}", 1) from None
    except KeyboardInterrupt:
        pass
    finally:
        if scratch is not None:
            scratch.cleanup()


class PlatformUnavailable(Exception):
    """A chat platform could not be reached at start (the message holds no secret)."""


async def _run_platforms(settings: Settings, platforms: list[Any]) -> None:
    runtime = await build_runtime(settings, adapters=platforms)
    for problem in runtime.flows.problems:
        typer.echo(str(problem), err=True)
    try:
        await runtime.start()
    except Exception as error:  # a platform that cannot be reached: one clear line
        await runtime.stop()
        for adapter in platforms:  # a platform that said why (Telegram: a refused token)
            halted = getattr(adapter, "halted", None)
            if isinstance(halted, asyncio.Event) and halted.is_set():
                raise PlatformUnavailable(adapter.halt_reason) from None
        names = ", ".join(a.platform for a in platforms)
        # A Matrix login error says which setting to check (and holds no secret).
        detail = str(error) if type(error).__name__ == "MatrixLoginError" else ""
        raise PlatformUnavailable(
            f"could not connect to {names} ({type(error).__name__}{': ' if detail else ''}"
            f"{detail}); check the network, the credentials and SAMEN_SLACK_API_URL / "
            "SAMEN_TELEGRAM_API_URL / MATRIX_HOMESERVER"
        ) from None
    freeze_startup_objects()
    typer.echo("Samen draait: " + ", ".join(a.platform for a in platforms), err=True)
    try:
        # Until interrupted, or until a platform says it cannot go on (Telegram: the token
        # was revoked); then a clear message and a non-zero exit, for the supervisor.
        halts = [a for a in platforms if isinstance(getattr(a, "halted", None), asyncio.Event)]
        waits = [asyncio.ensure_future(a.halted.wait()) for a in halts]
        waits.append(asyncio.ensure_future(asyncio.Event().wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        for adapter in halts:
            if adapter.halted.is_set():
                raise PlatformUnavailable(adapter.halt_reason)
    finally:
        await runtime.stop()


async def _run_console(settings: Settings, clock: ScaledClock | None = None) -> None:
    # Fast time: timers fire from the scheduler's poll on that clock (APScheduler keeps
    # wall-clock time), polled every simulated second.
    runtime = (
        await build_runtime(settings)
        if clock is None
        else await build_runtime(settings, clock=clock, use_apscheduler=False, poll_interval=1.0)
    )
    for problem in runtime.flows.problems:
        typer.echo(str(problem), err=True)
    console = runtime.adapters[0]
    typer.echo("Samen draait in de console. /als <naam> wisselt van persoon; /samen voor hulp.")
    await runtime.start()
    freeze_startup_objects()
    try:
        await console.done.wait()
        # The input has ended: finish what it asked for before stopping (at most 10 s).
        for _ in range(100):
            await runtime.inbox.drain()
            if not await runtime.store.outbox_backlog():
                break
            runtime.outbox.notify()
            await asyncio.sleep(0.1)
    finally:
        await runtime.stop()


@app.command("status")
def status() -> None:
    """Timers pending, next due, oldest overdue, inbox and outbox backlog."""
    settings = Settings()
    database = settings.data_dir / "samen.db"
    if not settings.database_url and not database.is_file():
        # Looking must not create: an empty database here would report "all quiet".
        raise _fail(
            f"there is no Samen database in {settings.data_dir}/ (no {database.name}); "
            "run this where `samen run` keeps its data, or set SAMEN_DATA_DIR",
            1,
        )
    try:
        figures = asyncio.run(_status(settings))
    except (DatabaseUnavailable, DataKeyError) as error:
        raise _fail(str(error), 1) from None
    for line in status_lines(figures):
        typer.echo(line)


def status_lines(figures: dict[str, Any]) -> list[str]:
    """`samen status` in plain words, moments in this computer's local time."""

    def moment(value: Any) -> str:
        if value is None:
            return "none"
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        local = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone()
        return local.strftime("%a %d %b %Y %H:%M %Z")

    return [
        f"Timers waiting: {figures['timers_pending']}",
        f"Next timer due: {moment(figures['next_due'])}",
        f"Oldest overdue timer: {moment(figures['oldest_overdue'])}",
        f"Events not yet handled: {figures['inbox_backlog']}",
        f"Messages waiting to be sent: {figures['outbox_backlog']}",
        f"Messages that failed: {figures['outbox_failed']}",
    ]


async def _status(settings: Settings) -> dict[str, Any]:
    store = await Store.open(settings.database_url_resolved(), migrate=True)
    try:
        return await store.status(datetime.now(UTC))
    finally:
        await store.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (SQLite migrates by itself on start)."""
    settings = Settings()
    try:
        asyncio.run(_upgrade(settings))
    except (DatabaseUnavailable, DataKeyError) as error:
        raise _fail(str(error), 1) from None
    typer.echo(f"database is up to date: {settings.database_url_redacted()}")


async def _upgrade(settings: Settings) -> None:
    store = await Store.open(settings.database_url_resolved(), migrate=True)
    await store.close()


export_app = typer.Typer(
    help="Export data: a person's or a team's (--person / --team), or trajectories."
)
app.add_typer(export_app, name="export")


@export_app.command("trajectories")
def export_trajectories(
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    team: Annotated[
        str | None, typer.Option("--team", help="only this team (id, channel or name)")
    ] = None,
) -> None:
    """Trajectories and their evaluation history: codes, dates, states, outcomes; no text."""
    from bot.trajectories.export import FORMATS, render

    if fmt not in FORMATS:
        raise _fail(f"--format must be csv or json, not '{fmt}'")
    settings = Settings()
    try:
        records = asyncio.run(_export(settings, team))
    except (DatabaseUnavailable, DataKeyError) as error:
        raise _fail(str(error), 1) from None
    typer.echo(render(records, fmt), nl=False)


async def _export(settings: Settings, team: str | None) -> list[dict[str, Any]]:
    from bot.trajectories.export import trajectory_records

    store = await Store.open(settings.database_url_resolved(), migrate=True)
    try:
        return await trajectory_records(store, datetime.now(UTC).date(), team)
    finally:
        await store.close()


def _print_errors(problems: list[Problem]) -> None:
    for problem in problems:
        typer.echo(str(problem), err=True)


# samen keys / export --person|--team / forget / audit / purge (bot/privacy_cli.py)
register_privacy_commands(app, export_app)


def main() -> None:
    app()
