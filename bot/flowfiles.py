"""The flow library on disk: read flow files and the shared catalogue, and check them together.

The shell side of `bot/core/loader.py`: this module reads files; the loader and validator
stay pure. A broken file never stops the others from loading; its flow is just absent
from `FlowSet.flows` and its problems are in `FlowSet.problems`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.flowtest import FileResult, FlowTestError, run_test_file
from bot.core.loader import FlowReading, check_catalogue, read_flow, read_yaml
from bot.core.model import AfterFlowTrigger, Flow, StartFlowBody, StartFlowStep
from bot.core.problems import Problem, sorted_problems, suggestion
from bot.core.validate import file_stem

__all__ = [
    "CATALOGUE_FILE",
    "FlowSet",
    "find_test_files",
    "flow_files",
    "library_paths",
    "load_flows",
    "load_library",
    "read_text",
    "run_test_path",
    "shipped_flows_dir",
]

# The shared catalogue of texts in a flows directory; it is not a flow.
CATALOGUE_FILE = "catalogue.yaml"


@dataclass
class FlowSet:
    """The flows that loaded without errors, every problem found, and the catalogue."""

    flows: dict[str, Flow] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    catalogue: dict[str, dict[str, str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # the flow files that were checked

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def read_text(path: Path) -> str | Problem:
    """The file's text, or a problem saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Problem(str(path), 1, 1, "the file is not UTF-8 text; save it as UTF-8")
    except OSError as error:
        return Problem(str(path), 1, 1, f"cannot read the file: {error.strerror}")


def flow_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(flow files, catalogue files) named by `paths`: each directory's `*.yaml` directly
    inside it (not `tests/`, not the catalogue), and each file as given.

    Raises FileNotFoundError for a path that does not exist.
    """
    flows: list[Path] = []
    catalogues: list[Path] = []
    for path in paths:
        if path.is_dir():
            flows += sorted(
                p for p in path.glob("*.yaml") if p.is_file() and p.name != CATALOGUE_FILE
            )
            folder = path
        elif path.is_file():
            if path.name != CATALOGUE_FILE:
                flows.append(path)
            folder = path.parent
        else:
            raise FileNotFoundError(
                f"'{path}' does not exist; give a flow file or a directory of flows"
            )
        catalogue = folder / CATALOGUE_FILE
        if catalogue.is_file() and catalogue not in catalogues:
            catalogues.append(catalogue)
    return list(dict.fromkeys(flows)), catalogues


def load_flows(
    paths: Sequence[Path] = (Path("flows"),), *, later_replaces: bool = False
) -> FlowSet:
    """Every flow in `paths`, checked on its own and against the others. With
    `later_replaces`, a flow in a later folder replaces one with its id in an earlier
    folder (the organisation's own flows beside the shipped library)."""
    files, catalogue_files = flow_files(paths)
    found = FlowSet(files=files)
    for path in catalogue_files:
        text = read_text(path)
        if isinstance(text, Problem):
            found.problems.append(text)
            continue
        entries, problems = check_catalogue(text, str(path))
        found.problems += problems
        for key, texts in entries.items():
            found.catalogue.setdefault(key, texts)
    readings: list[FlowReading] = []
    for path in files:
        text = read_text(path)
        if isinstance(text, Problem):
            found.problems.append(text)
            continue
        reading = read_flow(text, str(path), found.catalogue)
        readings.append(reading)
        found.problems += reading.problems
    if later_replaces:
        readings = _later_wins(readings)
    # Flows beside a file that was checked on its own exist too: `start_flow` may name them.
    folders = {p.parent for p in files} | {p for p in paths if p.is_dir()}
    neighbours = [
        p for folder in folders for p in folder.glob("*.yaml") if p.name != CATALOGUE_FILE
    ]
    cross = _cross_flow_problems(readings, [*files, *neighbours])
    for k, reading in enumerate(readings):
        more = cross.get(k, [])
        found.problems += more
        broken = reading.errors or any(p.severity == "error" for p in more)
        if reading.flow is not None and not broken:
            found.flows[reading.flow.id] = reading.flow
    found.problems = sorted_problems(found.problems)
    return found


def _later_wins(readings: list[FlowReading]) -> list[FlowReading]:
    """Per flow id the last reading (of the latest folder); readings without a flow stay."""
    last = {r.flow.id: k for k, r in enumerate(readings) if r.flow is not None}
    return [r for k, r in enumerate(readings) if r.flow is None or last[r.flow.id] == k]


def _cross_flow_problems(
    readings: Sequence[FlowReading], files: Sequence[Path]
) -> dict[int, list[Problem]]:
    """Per reading: flows it names must exist (as a reading or one of `files`), and its
    id must be unique."""
    problems: dict[int, list[Problem]] = {}
    # A flow whose file is broken still exists: naming it is not a second mistake.
    known = {stem for f in files if (stem := file_stem(f.name)) is not None}
    first_file: dict[str, str] = {}
    for k, reading in enumerate(readings):
        flow = reading.flow
        if flow is None:
            continue
        known.add(flow.id)
        if flow.id in first_file:
            problems.setdefault(k, []).append(
                reading.source.error(
                    ("id",),
                    f"the flow id '{flow.id}' is also used by {first_file[flow.id]}; "
                    "flow ids must be unique",
                )
            )
        else:
            first_file[flow.id] = reading.source.file
    for k, reading in enumerate(readings):
        flow = reading.flow
        if flow is None:
            continue
        named: list[tuple[str, tuple[object, ...], str]] = []
        for t, trigger in enumerate(flow.triggers):
            if isinstance(trigger, AfterFlowTrigger):
                named.append((trigger.after_flow, ("triggers", t, "after_flow"), "after_flow"))
        if flow.time_out is not None:
            named.append((flow.time_out, ("time_out",), "time_out"))
        for i, step in enumerate(flow.steps):
            if isinstance(step, StartFlowStep):
                body = step.start_flow
                if isinstance(body, StartFlowBody):
                    named.append((body.flow, ("steps", i, "start_flow", "flow"), "start_flow"))
                else:
                    named.append((body, ("steps", i, "start_flow"), "start_flow"))
        for flow_id, loc, what in named:
            if flow_id not in known:
                problems.setdefault(k, []).append(
                    reading.source.error(
                        loc,
                        f"{what}: there is no flow '{flow_id}'"
                        f"{suggestion(flow_id, known - {flow.id})}; a flow is a file in the "
                        "flows directory named after its id",
                    )
                )
    return problems


# --------------------------------------------------------------------------- the library
#
# The shipped library is the `flows/` folder of the project. A built package carries it as
# package data (`bot/shipped_flows/`, copied there by `setup.py` when the wheel is built),
# so an installed Samen finds its flows from any directory; a source checkout (and an
# editable install) reads `flows/` at the project root.
#
# `SAMEN_FLOWS_DIR` names a folder of the organisation's own flows, loaded beside the
# shipped ones. A flow there with the id of a shipped flow replaces it (its
# `voorbereiding-huisbezoek.yaml` is used instead of Samen's own); the other shipped
# flows stay available, and the organisation's flows may start them.

_PACKAGE = Path(__file__).resolve().parent


def shipped_flows_dir() -> Path:
    """The shipped flow library: inside the installed package, else the checkout's."""
    installed = _PACKAGE / "shipped_flows"
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / "flows"


def library_paths(own: Path | None = None) -> list[Path]:
    """The folders to load, shipped first: a flow in `own` replaces a shipped one."""
    shipped = shipped_flows_dir()
    if own is None or own.resolve() == shipped.resolve():
        return [shipped]
    return [shipped, own]


def load_library(own: Path | None = None) -> FlowSet:
    """The shipped flows and the organisation's own (`SAMEN_FLOWS_DIR`), checked together.

    Raises FileNotFoundError when `own` does not exist."""
    return load_flows(library_paths(own), later_replaces=True)


# --------------------------------------------------------------------------- flow tests


def find_test_files(paths: Sequence[Path]) -> list[Path]:
    """Flow test files named by `paths`: `*.test.yaml` files as given, or every one in a
    directory's `tests/` folder (or the directory itself when it is a tests folder).

    Raises FileNotFoundError for a path that does not exist.
    """
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        if path.is_file():
            found.append(path)
            continue
        folder = path if path.name == "tests" else path / "tests"
        if folder.is_dir():
            found += sorted(folder.glob("*.test.yaml"))
    return found


def run_test_path(path: Path, flows: dict[str, Flow]) -> FileResult:
    """Read one flow test file (with the flow loader's YAML rules) and run its cases."""
    text = read_text(path)
    if isinstance(text, Problem):
        raise FlowTestError(str(text))
    data, _, problems = read_yaml(text, str(path))
    if problems or not isinstance(data, dict):
        raise FlowTestError("; ".join(str(p) for p in problems) or f"{path}: not a mapping")
    return run_test_file(data, str(path), flows)
